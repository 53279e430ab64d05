import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { timelineAfter, TimelineKey } from '../../common/timeline';
import { DisclosureKind, NewDisclosure } from './disclosure';

export interface DisclosureRow {
  id: string;
  kind: DisclosureKind;
  consent_id: string | null;
  referral_id: string | null;
  shared_fields: string | string[];
  disclosed_at: Date;
  partner_code: string;
  partner_name: string;
}

/** The disclosures table: insert-only, read per user in creation order. */
@Injectable()
export class DisclosuresRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(m: EntityManager, d: NewDisclosure): Promise<string> {
    const result: { insertId: number | string } = await m.query(
      `INSERT INTO disclosures (user_id, partner_id, consent_id, referral_id, kind, shared_fields, artefact_sha256, request_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        d.userId,
        d.partnerId,
        d.consentId ?? null,
        d.referralId ?? null,
        d.kind,
        JSON.stringify(d.sharedFields),
        d.artefactSha256 ?? null,
        d.requestId ?? null,
      ],
    );
    return String(result.insertId);
  }

  /** Many disclosures in one multi-row INSERT (batched fetches): one round trip however many rows. */
  async insertMany(m: EntityManager, ds: readonly NewDisclosure[]): Promise<void> {
    if (ds.length === 0) return;
    await m.query(
      'INSERT INTO disclosures (user_id, partner_id, consent_id, referral_id, kind, shared_fields, artefact_sha256, request_id) VALUES ?',
      [
        ds.map((d) => [
          d.userId,
          d.partnerId,
          d.consentId ?? null,
          d.referralId ?? null,
          d.kind,
          JSON.stringify(d.sharedFields),
          d.artefactSha256 ?? null,
          d.requestId ?? null,
        ]),
      ],
    );
  }

  /** `limit + 1` rows after `afterId`, so the caller can tell whether another page exists. */
  async pageOfUser(userId: string, afterId: string | undefined, limit: number): Promise<DisclosureRow[]> {
    return this.dataSource.query(
      `SELECT d.id, d.kind, d.consent_id, d.referral_id, d.shared_fields, d.disclosed_at, p.code AS partner_code, p.name AS partner_name
         FROM disclosures d JOIN partners p ON p.id = d.partner_id
        WHERE d.user_id = ? AND d.id > ?
        ORDER BY d.id LIMIT ?`,
      [userId, afterId ?? '0', limit + 1],
    );
  }

  /** The user's disclosures in (disclosed_at, id) order after `after`: the compliance timeline's part. */
  async timelineOfUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<DisclosureRow[]> {
    const cond = timelineAfter('d.disclosed_at', 'd.id', DISCLOSURE_KIND, after);
    return this.dataSource.query(
      `SELECT d.id, d.kind, d.consent_id, d.referral_id, d.shared_fields, d.disclosed_at, p.code AS partner_code, p.name AS partner_name
         FROM disclosures d JOIN partners p ON p.id = d.partner_id
        WHERE d.user_id = ? AND ${cond.sql}
        ORDER BY d.disclosed_at, d.id LIMIT ?`,
      [userId, ...cond.params, limit],
    );
  }
}

export const DISCLOSURE_KIND = 'disclosure';
