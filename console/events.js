// @ts-check
import { el, utc } from './dom.js';

/**
 * @typedef {{ seq: number, at: string, action: string, actor: { type: string, id: string }, partner?: string,
 *   resource?: { type: string | null, id: string | null }, subjectUserHash?: string, requestId?: string,
 *   clientIp?: string, outcome: string, httpStatus?: number, details?: unknown, prevHash: string, hash: string }} AuditEvent
 */

/** A long hash shortened for the table; the full value is in the row's event details. */
const short = (/** @type {string} */ hash) => (hash.length > 12 ? `${hash.slice(0, 12)}…` : hash);

/**
 * One table row per event. Users appear only as keyed hashes (the trail holds no PII).
 * @param {AuditEvent} e
 */
function row(e) {
  const tr = el('tr');
  tr.className = e.outcome;
  tr.dataset.seq = String(e.seq);
  const cells = [
    el('td', { className: 'mono', text: String(e.seq) }),
    el('td', { className: 'nowrap mono', text: utc(e.at) }),
    el('td', { className: 'mono', text: e.action }),
    el('td', { text: `${e.actor.type}: ${e.actor.id.length > 24 ? short(e.actor.id) : e.actor.id}` }),
    el('td', { text: e.partner ?? '' }),
    el('td', { text: e.resource ? `${e.resource.type ?? ''} ${e.resource.id ?? ''}`.trim() : '' }),
    el('td', { className: 'mono', text: e.subjectUserHash ? short(e.subjectUserHash) : '' }),
    el('td', { className: 'outcome', text: e.outcome }),
    el('td', { text: e.httpStatus === undefined ? '' : String(e.httpStatus) }),
    el('td', {}, [el('details', {}, [el('summary', { text: 'Show' }), el('pre', { text: JSON.stringify(e, null, 2) })])]),
  ];
  tr.append(...cells);
  return tr;
}

/**
 * @param {HTMLTableElement} table
 * @param {AuditEvent[]} events
 * @param {string} caption
 */
export function renderEvents(table, events, caption) {
  const body = /** @type {HTMLTableSectionElement} */ (table.tBodies[0]);
  body.replaceChildren(...events.map(row));
  /** @type {HTMLElement} */ (table.caption).textContent = caption;
  table.hidden = false;
}
