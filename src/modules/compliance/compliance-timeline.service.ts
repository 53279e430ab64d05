import { Injectable } from '@nestjs/common';

import { NotFoundError } from '../../common/errors';
import { decodeCursor, toPage } from '../../common/pagination';
import {
  compareTimelineKeys,
  parseTimelineCursorKey,
  TIMELINE_CURSOR_KEY,
  timelineCursorKey,
  TimelineEntry,
  TimelineSource,
} from '../../common/timeline';
import { ApplicationsTimeline } from '../applications/applications-timeline';
import { AuditRepository } from '../audit/audit.repository';
import { AuditWriter } from '../audit/audit.writer';
import { CreditRecordsService } from '../credit-records/credit-records.service';
import { DecisionsTimeline } from '../decisions/decisions-timeline';
import { DelinquenciesTimeline } from '../delinquencies/delinquencies-timeline';
import { DisclosuresTimeline } from '../disclosures/disclosures-timeline';
import { OffersTimeline } from '../offers/offers-timeline';
import { OverdueTimeline } from '../overdue/overdue-timeline';

/** One timeline entry as API.md answers it. */
export interface TimelineEntryView {
  at: string;
  kind: string;
  partner?: string;
  referralId?: string;
  summary: string;
  auditSeq?: number;
}

export interface UserTimeline {
  user: { userId: string; name: string; nationalIdLast4: string };
  data: TimelineEntryView[];
  nextCursor: string | null;
}

/** Audit events read to match one page's entries: far more than a page's worth, a bound all the same. */
const MAX_MATCHED_EVENTS = 10_000;

/**
 * A user's timeline for compliance officers, merged from the modules that own each part (each answers through its
 * own TimelineSource; no query here reaches into their tables). Every source returns its first `limit + 1` entries
 * after the cursor, so the first `limit + 1` of their union are the page and the sign of a next one. The name is
 * decrypted here and nowhere else in the compliance API.
 */
@Injectable()
export class ComplianceTimelineService {
  private readonly sources: TimelineSource[];

  constructor(
    offers: OffersTimeline,
    applications: ApplicationsTimeline,
    decisions: DecisionsTimeline,
    overdue: OverdueTimeline,
    delinquencies: DelinquenciesTimeline,
    disclosures: DisclosuresTimeline,
    private readonly creditRecords: CreditRecordsService,
    private readonly audit: AuditRepository,
    private readonly writer: AuditWriter,
  ) {
    this.sources = [offers, applications, decisions, overdue, delinquencies, disclosures];
  }

  async timeline(userId: string, page: { limit: number; cursor?: string }): Promise<UserTimeline> {
    const key = decodeCursor(page.cursor, TIMELINE_CURSOR_KEY);
    const after = key === undefined ? undefined : parseTimelineCursorKey(key);
    const identity = await this.creditRecords.identityOf(userId);
    if (!identity) throw new NotFoundError('user');
    // One source after another: a rare officer's call should not take six pool connections at once.
    const entries: TimelineEntry[] = [];
    for (const source of this.sources) entries.push(...(await source.entriesForUser(userId, after, page.limit + 1)));
    entries.sort(compareTimelineKeys);
    const rows = entries.slice(0, page.limit + 1);
    const seqs = await this.auditSeqs(userId, rows.slice(0, page.limit));
    return {
      user: { userId, name: identity.name, nationalIdLast4: identity.nationalId.slice(-4) },
      ...toPage(rows, page.limit, timelineCursorKey, (e) => toView(e, seqs.get(e))),
    };
  }

  /**
   * Each entry's audit event: among the chained events about this user with the entry's action and resource, the one
   * nearest the entry's time (a referral fetched twice has two `referral.file.disclosed` events, and the referral's
   * PENDING_REVIEW and APPROVED moves two `referral.decided`). Entries not yet chained, or with no such event, have none.
   */
  private async auditSeqs(userId: string, entries: TimelineEntry[]): Promise<Map<TimelineEntry, number>> {
    const referring = entries.filter((e) => e.audit);
    const actions = [...new Set(referring.map((e) => e.audit!.action))];
    const resourceIds = [...new Set(referring.map((e) => e.audit!.resourceId))];
    const events = await this.audit.subjectEventsOn(this.writer.subjectHash(userId), actions, resourceIds, MAX_MATCHED_EVENTS);
    const byKey = new Map<string, typeof events>();
    for (const ev of events) {
      const k = `${ev.action}|${ev.resourceType}|${ev.resourceId}`;
      byKey.set(k, [...(byKey.get(k) ?? []), ev]);
    }
    const seqs = new Map<TimelineEntry, number>();
    for (const e of referring) {
      const { action, resourceType, resourceId } = e.audit!;
      let best: (typeof events)[number] | undefined;
      for (const ev of byKey.get(`${action}|${resourceType}|${resourceId}`) ?? []) {
        const distance = Math.abs(ev.occurredAt.getTime() - e.at.getTime());
        if (!best || distance < Math.abs(best.occurredAt.getTime() - e.at.getTime())) best = ev;
      }
      if (best) seqs.set(e, best.seq);
    }
    return seqs;
  }
}

const toView = (e: TimelineEntry, auditSeq: number | undefined): TimelineEntryView => ({
  at: e.at.toISOString(),
  kind: e.kind,
  ...(e.partner !== undefined ? { partner: e.partner } : {}),
  ...(e.referralId !== undefined ? { referralId: e.referralId } : {}),
  summary: e.summary,
  ...(auditSeq !== undefined ? { auditSeq } : {}),
});
