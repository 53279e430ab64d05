import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { decodeCursor, Page, toPage } from '../../common/pagination';
import { toPublicId } from '../../common/public-id';
import { jsonColumn } from '../../infra/database/json-column';
import { DisclosureView, NewDisclosure } from './disclosure';
import { DisclosureRow, DisclosuresRepository } from './disclosures.repository';

/**
 * The ledger of everything that left for a partner: what (field paths and the artefact's digest), to whom, when,
 * under which consent. Written in the transaction of the disclosure itself, so a disclosure that happened is never
 * missing from it and one that rolled back is never in it.
 */
@Injectable()
export class DisclosureLedger {
  constructor(private readonly repository: DisclosuresRepository) {}

  async record(m: EntityManager, d: NewDisclosure): Promise<void> {
    if (!m.queryRunner?.isTransactionActive) throw new Error('DisclosureLedger.record must run inside the disclosing transaction');
    await this.repository.insert(m, d);
  }

  /** `record` for many disclosures of one transaction (the batched partner fetch), in one statement. */
  async recordMany(m: EntityManager, ds: readonly NewDisclosure[]): Promise<void> {
    if (!m.queryRunner?.isTransactionActive) throw new Error('DisclosureLedger.recordMany must run inside the disclosing transaction');
    await this.repository.insertMany(m, ds);
  }

  async listForUser(userId: string, page: { limit: number; cursor?: string }): Promise<Page<DisclosureView>> {
    const after = decodeCursor(page.cursor);
    const rows = await this.repository.pageOfUser(userId, after, page.limit);
    return toPage(rows, page.limit, (r) => r.id, toView);
  }
}

function toView(r: DisclosureRow): DisclosureView {
  const fields = jsonColumn(r.shared_fields);
  return {
    id: toPublicId('dsc', r.id),
    partner: { code: r.partner_code, name: r.partner_name },
    kind: r.kind,
    ...(r.referral_id ? { referralId: toPublicId('ref', r.referral_id) } : {}),
    ...(r.consent_id ? { consentId: toPublicId('cns', r.consent_id) } : {}),
    sharedFields: fields,
    disclosedAt: new Date(r.disclosed_at).toISOString(),
  };
}
