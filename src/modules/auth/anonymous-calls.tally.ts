import { AuditEntryInput } from '../audit/audit-entry';

/** Most addresses one process tallies in a window; failures from further addresses are recorded one entry each. */
export const ANONYMOUS_TALLY_MAX_ADDRESSES = 10_000;

interface Tally {
  clientIp: string;
  from: Date;
  to: Date;
  count: number;
  statuses: Record<string, number>;
  routes: Record<string, number>;
}

/**
 * Failed /partner/v1 calls without a partner credential, per client address, within one window of one process. The
 * first failure of an address in a window is recorded on its own as it happens (so a probe shows at once, with its
 * request id); the others are only counted here, and `drain` turns each address's count into one aggregated
 * `partner_api.call` entry at the end of the window. An address thus costs at most two rows a window per process,
 * however many requests it sends: anonymous callers can no longer fill the audit trail.
 */
export class AnonymousCallTally {
  private tallies = new Map<string, Tally>();

  /** True when the call was counted here and needs no entry of its own. */
  suppress(clientIp: string, status: number, route: string, at = new Date()): boolean {
    const tally = this.tallies.get(clientIp);
    if (!tally) {
      if (this.tallies.size < ANONYMOUS_TALLY_MAX_ADDRESSES) {
        this.tallies.set(clientIp, { clientIp, from: at, to: at, count: 0, statuses: {}, routes: {} });
      }
      return false;
    }
    tally.count++;
    tally.to = at;
    tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
    tally.routes[route] = (tally.routes[route] ?? 0) + 1;
    return true;
  }

  /** Forgets an address whose first entry could not be written, so that its next failure is recorded on its own. */
  forget(clientIp: string): void {
    if (this.tallies.get(clientIp)?.count === 0) this.tallies.delete(clientIp);
  }

  get size(): number {
    return this.tallies.size;
  }

  /** Ends the window: the aggregated entries of the addresses that had more than their first failure. */
  drain(): AuditEntryInput[] {
    const ended = [...this.tallies.values()];
    this.tallies = new Map();
    return ended.filter((t) => t.count > 0).map(aggregatedEntry);
  }
}

function aggregatedEntry(t: Tally): AuditEntryInput {
  const denied = Object.keys(t.statuses).every((s) => s === '401' || s === '403' || s === '429');
  return {
    actorType: 'partner',
    actorId: 'anonymous',
    action: 'partner_api.call',
    resourceType: 'route',
    resourceId: '(aggregated)',
    clientIp: t.clientIp,
    outcome: denied ? 'DENIED' : 'FAILURE',
    details: {
      aggregated: { count: t.count, from: t.from.toISOString(), to: t.to.toISOString(), statuses: t.statuses, routes: t.routes },
    },
  };
}
