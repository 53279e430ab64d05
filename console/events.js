// @ts-check
import { el, utc } from './dom.js';

/**
 * @typedef {{ seq: number, at: string, action: string, actor: { type: string, id: string }, partner?: string,
 *   resource?: { type: string | null, id: string | null }, subjectUserHash?: string, requestId?: string,
 *   clientIp?: string, outcome: string, httpStatus?: number, details?: unknown, prevHash: string, hash: string }} AuditEvent
 */

/** A long hash shortened for the table; the full value is in the row's event details. */
const short = (/** @type {string} */ hash) => (hash.length > 10 ? `${hash.slice(0, 10)}…` : hash);

/**
 * One table row per event, followed by a hidden full-width row with the whole event (shown by the row's button, a
 * disclosure that works with the keyboard). Users appear only as keyed hashes (the trail holds no PII).
 * @param {AuditEvent} e
 * @returns {HTMLTableRowElement[]}
 */
function rows(e) {
  const tr = /** @type {HTMLTableRowElement} */ (el('tr', { className: e.outcome }));
  tr.dataset.seq = String(e.seq);
  const detail = /** @type {HTMLTableRowElement} */ (el('tr', { className: 'detail' }));
  detail.id = `event-${e.seq}`;
  detail.hidden = true;
  const cell = /** @type {HTMLTableCellElement} */ (el('td', {}, [el('pre', { text: JSON.stringify(e, null, 2) })]));
  cell.colSpan = 9;
  detail.append(cell);
  const toggle = /** @type {HTMLButtonElement} */ (el('button', { className: 'small', text: 'Show' }));
  toggle.type = 'button';
  toggle.setAttribute('aria-expanded', 'false');
  toggle.setAttribute('aria-controls', detail.id);
  toggle.setAttribute('aria-label', `Show event ${e.seq}`);
  toggle.addEventListener('click', () => {
    detail.hidden = !detail.hidden;
    toggle.setAttribute('aria-expanded', String(!detail.hidden));
    toggle.textContent = detail.hidden ? 'Show' : 'Hide';
    toggle.setAttribute('aria-label', `${detail.hidden ? 'Show' : 'Hide'} event ${e.seq}`);
  });
  tr.append(
    el('td', { className: 'mono', text: String(e.seq) }),
    el('td', { className: 'nowrap mono', text: utc(e.at) }),
    el('td', { className: 'mono', text: e.action }),
    el('td', { text: `${e.actor.type}: ${e.actor.id.length > 24 ? short(e.actor.id) : e.actor.id}` }),
    el('td', { text: e.partner ?? '' }),
    el('td', { text: e.resource ? `${e.resource.type ?? ''} ${e.resource.id ?? ''}`.trim() : '' }),
    el('td', { className: 'mono', text: e.subjectUserHash ? short(e.subjectUserHash) : '' }),
    el('td', { className: 'outcome', text: e.httpStatus === undefined ? e.outcome : `${e.outcome} ${e.httpStatus}` }),
    el('td', {}, [toggle]),
  );
  return [tr, detail];
}

/**
 * @param {HTMLTableElement} table
 * @param {AuditEvent[]} events
 * @param {string} caption
 */
export function renderEvents(table, events, caption) {
  const body = /** @type {HTMLTableSectionElement} */ (table.tBodies[0]);
  body.replaceChildren(...events.flatMap(rows));
  /** @type {HTMLElement} */ (table.caption).textContent = caption;
  table.hidden = false;
}
