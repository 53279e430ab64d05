import { Injectable } from '@nestjs/common';

import { PartnerWithKeys } from './partner';
import { PartnersRepository } from './partners.repository';

const TTL_MS = 5_000;
const MAX_ENTRIES = 10_000;

/**
 * Partners as the partner-API guard sees them, cached for a few seconds: the hot path of every partner call must not
 * cost a query, and a suspension still takes effect everywhere within TTL_MS (at once on the instance that made it).
 */
@Injectable()
export class PartnerDirectory {
  private readonly cache = new Map<string, { partner: PartnerWithKeys | undefined; until: number }>();

  constructor(private readonly partners: PartnersRepository) {}

  async byCode(code: string): Promise<PartnerWithKeys | undefined> {
    const now = Date.now();
    const hit = this.cache.get(code);
    if (hit && hit.until > now) return hit.partner;
    const partner = await this.partners.findByCode(code);
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(code, { partner, until: now + TTL_MS });
    return partner;
  }

  invalidate(code: string): void {
    this.cache.delete(code);
  }
}
