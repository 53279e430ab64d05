// @ts-check
import { ApiError, download, getJson, queryOf } from './api.js';
import { busy, byId, showError } from './dom.js';
import { renderEvents } from './events.js';
import { forgetToken, readToken, storedToken, storeToken, takeTokenFromFragment } from './session.js';
import { renderTimeline } from './timeline.js';

/**
 * The compliance console: sign-in, audit search with paging, exports, chain verification and a user's timeline, all
 * through the compliance API. Signed out, it shows only the sign-in form and calls nothing.
 */

const FILTERS = ['actorType', 'actorId', 'partner', 'userId', 'action', 'outcome', 'from', 'to'];
const API = '/v1/compliance';

/** @type {{ token: string, timer: number } | null} */
let session = null;
/** The applied search: its filters and the cursor that fetches each page seen so far (page 0 has none). */
let search = { query: /** @type {Record<string, string>} */ ({}), cursors: /** @type {(string | undefined)[]} */ ([]), page: 0 };
/** @type {{ userId: string, nextCursor: string | null } | null} */
let timeline = null;

const $ = {
  session: byId('session'),
  officer: byId('officer'),
  signOut: /** @type {HTMLButtonElement} */ (byId('sign-out')),
  signIn: byId('sign-in'),
  signInForm: /** @type {HTMLFormElement} */ (byId('sign-in-form')),
  token: /** @type {HTMLTextAreaElement} */ (byId('token')),
  signInError: byId('sign-in-error'),
  console: byId('console'),
  searchRegion: byId('search'),
  searchForm: /** @type {HTMLFormElement} */ (byId('search-form')),
  searchStatus: byId('search-status'),
  searchError: byId('search-error'),
  events: /** @type {HTMLTableElement} */ (byId('events')),
  caption: byId('events-caption'),
  prev: /** @type {HTMLButtonElement} */ (byId('prev-page')),
  next: /** @type {HTMLButtonElement} */ (byId('next-page')),
  pageLabel: byId('page-label'),
  exportNdjson: /** @type {HTMLButtonElement} */ (byId('export-ndjson')),
  exportCsv: /** @type {HTMLButtonElement} */ (byId('export-csv')),
  chainRegion: byId('chain'),
  chainStatus: byId('chain-status'),
  chainError: byId('chain-error'),
  verify: /** @type {HTMLButtonElement} */ (byId('verify')),
  timelineRegion: byId('timeline'),
  timelineForm: /** @type {HTMLFormElement} */ (byId('timeline-form')),
  timelineUser: /** @type {HTMLInputElement} */ (byId('timeline-user')),
  timelineStatus: byId('timeline-status'),
  timelineError: byId('timeline-error'),
  timelineView: byId('timeline-view'),
  timelineTitle: byId('timeline-user-title'),
  timelineEntries: /** @type {HTMLOListElement} */ (byId('timeline-entries')),
  timelineMore: /** @type {HTMLButtonElement} */ (byId('timeline-more')),
  timelineClose: /** @type {HTMLButtonElement} */ (byId('timeline-close')),
};

// ---- session ----

/**
 * Uses a token if it can be one (a JWT with the compliance role, not expired), else shows why on the sign-in form.
 * @param {string} token
 */
function signIn(token) {
  const read = readToken(token, Date.now() / 1000);
  if ('problem' in read) return signOut(read.problem);
  storeToken(token);
  // Signed out again the moment the token expires, rather than at the next refused call.
  const timer = window.setTimeout(
    () => signOut('Your token has expired. Sign in again.'),
    Math.min(read.claims.exp * 1000 - Date.now(), 2 ** 31 - 1),
  );
  session = { token, timer };
  $.officer.textContent = `Signed in as ${read.claims.sub}`;
  $.signIn.hidden = true;
  $.session.hidden = false;
  $.console.hidden = false;
  $.token.value = '';
  /** @type {HTMLElement} */ ($.searchForm.elements[0]).focus();
}

/**
 * Forgets the token and everything shown with it (the timeline's personal data first of all).
 * @param {string | null} [reason]
 */
function signOut(reason = null) {
  if (session) window.clearTimeout(session.timer);
  session = null;
  forgetToken();
  closeTimeline();
  $.searchForm.reset();
  $.timelineForm.reset();
  search = { query: {}, cursors: [], page: 0 };
  $.events.hidden = true;
  /** @type {HTMLTableSectionElement} */ ($.events.tBodies[0]).replaceChildren();
  for (const box of [$.searchError, $.chainError, $.timelineError]) showError(box, null);
  for (const status of [$.searchStatus, $.timelineStatus, $.pageLabel]) status.textContent = '';
  $.chainStatus.textContent = 'Not verified in this session.';
  $.chainStatus.className = 'status';
  $.prev.disabled = $.next.disabled = true;
  $.console.hidden = true;
  $.session.hidden = true;
  $.signIn.hidden = false;
  showError($.signInError, reason);
  $.token.focus();
}

/**
 * The current token; a refused one (401) ends the session with the gateway's reason.
 * @template T
 * @param {(token: string) => Promise<T>} work
 * @returns {Promise<T>}
 */
async function withToken(work) {
  if (!session) throw new ApiError(401, 'Not signed in', '', undefined);
  try {
    return await work(session.token);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) signOut(`The gateway refused the token.\n${error.toDisplay()}`);
    throw error;
  }
}

/** @param {unknown} error */
const describe = (error) => (error instanceof ApiError ? error.toDisplay() : `Unexpected error: ${String(error)}`);

// ---- search and paging ----

/** The search form's filters, empty ones left out. */
function filtersOfForm() {
  const form = new FormData($.searchForm);
  /** @type {Record<string, string>} */
  const filters = {};
  for (const key of FILTERS) {
    const value = String(form.get(key) ?? '').trim();
    if (value) filters[key] = value;
  }
  return filters;
}

/** @param {number} index */
async function loadPage(index) {
  const query = { ...search.query, cursor: search.cursors[index] };
  const pressed = [$.prev, $.next].find((b) => b === document.activeElement);
  showError($.searchError, null);
  $.searchStatus.textContent = 'Loading…';
  try {
    const page = await busy($.searchRegion, [$.prev, $.next], () => withToken((t) => getJson(t, `${API}/audit-events${queryOf(query)}`)));
    search.page = index;
    search.cursors[index + 1] = page.nextCursor ?? undefined;
    const n = page.data.length;
    const caption = n
      ? `Page ${index + 1}: ${n} event${n === 1 ? '' : 's'}, seq ${page.data[0].seq}–${page.data[n - 1].seq}`
      : index === 0
        ? 'No events match these filters.'
        : `Page ${index + 1}: no further events.`;
    renderEvents($.events, page.data, caption);
    $.searchStatus.textContent = '';
    $.pageLabel.textContent = `Page ${index + 1}`;
    $.prev.disabled = index === 0;
    $.next.disabled = !page.nextCursor;
    // Disabling the buttons while loading took the focus from the one pressed: give it back, or, where that one is
    // now disabled (first or last page), move it to the results rather than leave it on the page body.
    if (pressed) (pressed.disabled ? $.caption : pressed).focus();
  } catch (error) {
    $.searchStatus.textContent = '';
    showError($.searchError, describe(error));
  }
}

$.searchForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const limit = String(new FormData($.searchForm).get('limit') ?? '50');
  search = { query: { ...filtersOfForm(), limit }, cursors: [undefined], page: 0 };
  void loadPage(0);
});
$.searchForm.addEventListener('reset', () => showError($.searchError, null));
$.prev.addEventListener('click', () => void loadPage(search.page - 1));
$.next.addEventListener('click', () => void loadPage(search.page + 1));

// ---- exports ----

/** @param {'ndjson' | 'csv'} format */
async function exportEvents(format) {
  showError($.searchError, null);
  $.searchStatus.textContent = `Preparing the ${format.toUpperCase()} export…`;
  try {
    const path = `${API}/audit-events/export${queryOf({ format, ...filtersOfForm() })}`;
    const saved = await busy($.searchRegion, [$.exportNdjson, $.exportCsv], () => withToken((t) => download(t, path)));
    $.searchStatus.textContent = `Downloaded ${saved.filename} (${saved.size.toLocaleString('en')} bytes).`;
  } catch (error) {
    $.searchStatus.textContent = '';
    showError($.searchError, describe(error));
  }
}

$.exportNdjson.addEventListener('click', () => void exportEvents('ndjson'));
$.exportCsv.addEventListener('click', () => void exportEvents('csv'));

// ---- chain verification ----

$.verify.addEventListener('click', async () => {
  showError($.chainError, null);
  $.chainStatus.className = 'status';
  $.chainStatus.textContent = 'Verifying the chain…';
  try {
    const result = await busy($.chainRegion, [$.verify], () => withToken((t) => getJson(t, `${API}/audit/verify`)));
    const checked = `seq ${result.checkedFrom}–${result.checkedThrough}`;
    const checkpoints = `${result.checkpointsVerified} signed checkpoint${result.checkpointsVerified === 1 ? '' : 's'}`;
    const when = new Date().toISOString().slice(11, 19);
    $.chainStatus.className = result.ok ? 'status ok' : 'status broken';
    $.chainStatus.textContent = result.ok
      ? `Chain intact: ${checked} recomputed, ${checkpoints} verified (at ${when} UTC).`
      : `Chain broken at seq ${result.firstBrokenSeq}: ${result.reason}. Intact before it: ${checked}, ${checkpoints} (at ${when} UTC).`;
  } catch (error) {
    $.chainStatus.textContent = 'Verification did not complete.';
    showError($.chainError, describe(error));
  }
});

// ---- a user's timeline ----

function closeTimeline() {
  timeline = null;
  $.timelineTitle.textContent = '';
  $.timelineEntries.replaceChildren();
  $.timelineView.hidden = true;
  $.timelineStatus.textContent = '';
}

/**
 * @param {string} userId
 * @param {boolean} more  the next page of the open timeline
 */
async function loadTimeline(userId, more) {
  showError($.timelineError, null);
  $.timelineStatus.textContent = 'Loading the timeline…';
  const cursor = more && timeline ? (timeline.nextCursor ?? undefined) : undefined;
  const path = `${API}/users/${encodeURIComponent(userId)}/timeline${queryOf({ cursor })}`;
  try {
    const page = await busy($.timelineRegion, [$.timelineMore], () => withToken((t) => getJson(t, path)));
    if (!more) closeTimeline();
    timeline = { userId, nextCursor: page.nextCursor ?? null };
    renderTimeline($.timelineTitle, $.timelineEntries, page, more);
    $.timelineView.hidden = false;
    $.timelineMore.hidden = !page.nextCursor;
    $.timelineStatus.textContent = '';
    if (!more) $.timelineTitle.focus();
  } catch (error) {
    if (!more) closeTimeline();
    $.timelineStatus.textContent = '';
    const lead = error instanceof ApiError && error.status === 404 ? `No timeline is available for “${userId}”.\n` : '';
    showError($.timelineError, lead + describe(error));
  }
}

$.timelineForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const userId = $.timelineUser.value.trim();
  if (!userId) return showError($.timelineError, 'Enter a user id.');
  void loadTimeline(userId, false);
});
$.timelineMore.addEventListener('click', () => timeline && void loadTimeline(timeline.userId, true));
$.timelineClose.addEventListener('click', () => {
  closeTimeline();
  $.timelineUser.focus();
});

// ---- start ----

$.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  signIn($.token.value.trim());
});
$.signOut.addEventListener('click', () => signOut());

const initial = takeTokenFromFragment() ?? storedToken();
if (initial) signIn(initial);
else signOut();
