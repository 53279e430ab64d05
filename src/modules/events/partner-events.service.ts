import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { toPublicId } from '../../common/public-id';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { SigningService } from '../signing/signing.service';
import { eventTypeUri, NewPartnerEvent, SET_LIFETIME_SECONDS } from './partner-event';
import { PartnerEventsRepository } from './partner-events.repository';

/**
 * Emits security events (RFC 8417 SETs) to a partner's feed, inside the caller's business transaction: the event
 * exists if and only if the change it reports committed. Every event is polled (RFC 8936); when the partner has a
 * push endpoint it is also pushed (RFC 8935) by the `events/event.push` job, written to the outbox here.
 */
@Injectable()
export class PartnerEvents {
  constructor(
    private readonly events: PartnerEventsRepository,
    private readonly signing: SigningService,
    private readonly outbox: OutboxService,
  ) {}

  async emit(m: EntityManager, e: NewPartnerEvent): Promise<void> {
    const partner = await this.events.partnerForEmit(m, e.partnerId);
    if (!partner) throw new Error(`partner ${e.partnerId} does not exist`);
    const toe = e.toe ?? new Date();
    // The row comes first: its id is the SET's jti (`evt_<id>`), which the bank acknowledges by.
    const id = await this.events.insertPlaceholder(m, {
      partnerId: e.partnerId,
      type: e.type,
      txn: e.txn,
      dedupeKey: e.dedupeKey,
      push: partner.pushEndpoint !== null,
    });
    if (id === undefined) return; // already emitted: one event per dedupe key
    const set = securityEvent(e, toe, partner.code, id);
    const { token } = await this.signing.sign('secevent', set.claims, set.opts);
    await this.events.setJws(m, id, token);
    if (partner.pushEndpoint !== null) {
      await this.outbox.enqueue(m, 'events', 'event.push', { eventId: id, attempt: 1, correlationId: e.dedupeKey });
    }
  }

  /**
   * `emit` for many events in a few statements per partner (batched packaging): one partner read, one multi-row
   * placeholder INSERT and id read-back, the SETs signed in one go, one UPDATE of the SETs, one multi-row outbox
   * INSERT for the pushes. Same events, SETs and pushes as calling `emit` for each in order; a dedupe key that
   * already has an event is skipped. Within a partner the ids follow the order given (the feed is in id order).
   * Returns the events made, by dedupe key, with their SETs (a disclosure records the digest of what left).
   */
  async emitMany(m: EntityManager, events: readonly NewPartnerEvent[]): Promise<Map<string, { eventId: string; jws: string }>> {
    const emitted = new Map<string, { eventId: string; jws: string }>();
    if (events.length === 0) return emitted;
    const byPartner = new Map<string, NewPartnerEvent[]>();
    for (const e of events) {
      const group = byPartner.get(e.partnerId);
      if (group) group.push(e);
      else byPartner.set(e.partnerId, [e]);
    }
    const partners = await this.events.partnersForEmit(m, [...byPartner.keys()]);
    for (const [partnerId, group] of byPartner) {
      const partner = partners.get(partnerId);
      if (!partner) throw new Error(`partner ${partnerId} does not exist`);
      const push = partner.pushEndpoint !== null;
      const ids = await this.events.insertPlaceholders(m, partnerId, group, push);
      const fresh = group.filter((e) => ids.has(e.dedupeKey));
      const now = new Date();
      const signed = await this.signing.signMany(
        'secevent',
        fresh.map((e) => securityEvent(e, e.toe ?? now, partner.code, ids.get(e.dedupeKey)!)),
      );
      await this.events.setJwsMany(
        m,
        fresh.map((e, i) => ({ id: ids.get(e.dedupeKey)!, jws: signed[i].token })),
      );
      fresh.forEach((e, i) => emitted.set(e.dedupeKey, { eventId: ids.get(e.dedupeKey)!, jws: signed[i].token }));
      if (push) {
        await this.outbox.enqueueMany(
          m,
          'events',
          'event.push',
          fresh.map((e) => ({ eventId: ids.get(e.dedupeKey)!, attempt: 1, correlationId: e.dedupeKey })),
        );
      }
    }
    return emitted;
  }
}

/** The SET of an event (RFC 8417): its row id is the jti (`evt_<id>`), which the bank acknowledges by. */
function securityEvent(e: NewPartnerEvent, toe: Date, partnerCode: string, eventId: string) {
  return {
    claims: { toe: Math.floor(toe.getTime() / 1000), txn: e.txn, events: { [eventTypeUri(e.type)]: e.payload } },
    opts: { audience: partnerCode, expiresInSeconds: SET_LIFETIME_SECONDS, jwtid: toPublicId('evt', eventId) },
  };
}
