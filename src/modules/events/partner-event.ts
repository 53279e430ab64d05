/** The event types of the partner feed (API.md "Event types"); the SET names each as a URI under EVENT_TYPE_BASE. */
export const PARTNER_EVENT_TYPES = [
  'referral.ready',
  'referral.withdrawn',
  'referral.expired',
  'overdue.reported',
  'overdue.updated',
  'overdue.cured',
] as const;
export type PartnerEventType = (typeof PARTNER_EVENT_TYPES)[number];

export const EVENT_TYPE_BASE = 'https://referral-gateway.dev/events/';
export const eventTypeUri = (type: PartnerEventType) => `${EVENT_TYPE_BASE}${type}`;

/**
 * A SET is verifiable for this long. Banks verify `exp` like any JWT, and an event waits in the poll feed until it
 * is acknowledged, so the window is generous; the signing key stays in the JWKS until then (signed_until).
 */
export const SET_LIFETIME_SECONDS = 90 * 24 * 3600;

export interface NewPartnerEvent {
  partnerId: string;
  type: PartnerEventType;
  /** The subject's public id (`ref_…`, `ovd_…`): the SET's txn claim. */
  txn: string;
  /** One event per (partner, dedupeKey): emitting twice creates one event. */
  dedupeKey: string;
  /** Time of the event (defaults to now). */
  toe?: Date;
  /** The event's member object. Ids and codes only, never personal data. */
  payload: Record<string, unknown>;
}

export type PushStatus = 'NONE' | 'PENDING' | 'DELIVERED' | 'DEAD';

/** An operator's view of an event whose push ran out of retries (it stays in the poll feed). */
export interface DeadLetterView {
  id: string;
  type: string;
  txn: string;
  createdAt: string;
  attempts: number;
  lastError: string | null;
  lastAttemptAt: string | null;
  deadAt: string | null;
  acknowledged: boolean;
}

/** An operator's view of a partner's push lane and circuit breaker (docs/RELIABILITY.md "Partner push lanes"). */
export interface PushLaneView {
  circuit: {
    state: 'closed' | 'open' | 'half_open';
    /** Failed pushes since the last answered one. */
    consecutiveFailures: number;
    /** When an open circuit lets its next probe through; null when closed. */
    openUntil: string | null;
    /** Times it opened (or reopened after a failed probe) since it was last closed. */
    opens: number;
  };
  /** Pushes to the partner in flight now, and the most allowed at once. */
  inFlight: number;
  limit: number;
}
