import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { ExclusionFacts, RelationshipKind } from './exclusions';

type MutableFacts = {
  prescreenOptOut: boolean;
  relationships: Array<ExclusionFacts['relationships'][number]>;
  delinquencies: Array<ExclusionFacts['delinquencies'][number]>;
};

/**
 * Reads what the exclusion tables (user_preferences, partner_relationships, partner_delinquencies) say about
 * some users, for the in-process evaluator (explaining one user's reasons, tests). Three set-based queries
 * whatever the number of users; bulk runs evaluate inside MySQL instead (compileCriteria: EXISTS probes or marks).
 */
@Injectable()
export class ExclusionFactsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async forUsers(userIds: readonly string[], manager?: EntityManager): Promise<Map<string, ExclusionFacts>> {
    const db = manager ?? this.dataSource.manager;
    const facts = new Map<string, MutableFacts>();
    for (const id of userIds) facts.set(id, { prescreenOptOut: false, relationships: [], delinquencies: [] });
    if (userIds.length === 0) return facts;
    const ids = [...facts.keys()];

    const preferences: Array<{ user_id: string; prescreen_opt_out: number }> = await db.query(
      'SELECT user_id, prescreen_opt_out FROM user_preferences WHERE user_id IN (?)',
      [ids],
    );
    const relationships: Array<{ user_id: string; partner_id: string; kind: RelationshipKind }> = await db.query(
      'SELECT user_id, partner_id, kind FROM partner_relationships WHERE user_id IN (?)',
      [ids],
    );
    const delinquencies: Array<{ user_id: string; partner_id: string; dpd: number }> = await db.query(
      'SELECT user_id, partner_id, dpd FROM partner_delinquencies WHERE user_id IN (?)',
      [ids],
    );
    const of = (userId: string) => facts.get(userId);
    for (const p of preferences) {
      const f = of(p.user_id);
      if (f) f.prescreenOptOut = f.prescreenOptOut || Number(p.prescreen_opt_out) === 1;
    }
    for (const r of relationships) of(r.user_id)?.relationships.push({ partnerId: String(r.partner_id), kind: r.kind });
    for (const d of delinquencies) of(d.user_id)?.delinquencies.push({ partnerId: String(d.partner_id), dpd: Number(d.dpd) });
    return facts;
  }
}
