// @ts-check
import { el, utc } from './dom.js';

/**
 * A user's timeline as API.md defines it (GET /v1/compliance/users/{userId}/timeline). The only answer the console
 * shows that holds personal data (the user's name and the last digits of the national id).
 * @typedef {{ at: string, kind: string, partner?: string, referralId?: string, summary: string, auditSeq?: number }} TimelineEntry
 * @typedef {{ user: { userId: string, name: string, nationalIdLast4: string }, data: TimelineEntry[],
 *   nextCursor: string | null }} TimelinePage
 */

/**
 * @param {TimelineEntry} entry
 */
function item(entry) {
  const meta = [`${utc(entry.at)} UTC`, entry.kind, entry.partner, entry.referralId && `referral ${entry.referralId}`]
    .concat(entry.auditSeq !== undefined ? [`audit seq ${entry.auditSeq}`] : [])
    .filter(Boolean)
    .join(' · ');
  return el('li', {}, [el('div', { className: 'meta', text: meta }), el('div', { text: entry.summary })]);
}

/**
 * @param {HTMLElement} title
 * @param {HTMLOListElement} list
 * @param {TimelinePage} page
 * @param {boolean} append  a further page of the same user
 */
export function renderTimeline(title, list, page, append) {
  title.textContent = `${page.user.name} · ${page.user.userId} · national id …${page.user.nationalIdLast4}`;
  const items = page.data.map(item);
  if (append) list.append(...items);
  else list.replaceChildren(...items);
  if (!append && page.data.length === 0) list.append(el('li', { text: 'Nothing recorded for this user.' }));
}
