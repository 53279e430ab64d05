/**
 * Exclusions: reasons a user gets no offer whatever the product's criteria say (DESIGN.md flow 2). Both
 * evaluators apply them, from the same tables:
 * - PRESCREEN_OPT_OUT: user_preferences.prescreen_opt_out = 1;
 * - CURRENTLY_OVERDUE: credit_records.current_dpd > 0 (snapshots and repayment-status updates both write it;
 *   an unknown (NULL) current_dpd is not a known overdue and does not exclude);
 * - OPEN_APPLICATION / EXISTING_CARDHOLDER: a partner_relationships row of that kind with the product's partner
 *   (the referral module keeps it in step with referral states);
 * - PARTNER_DELINQUENCY: a partner_delinquencies row with dpd > 0 from ANY partner by default; a product
 *   configured with delinquency scope SAME_PARTNER only counts its own partner's reports.
 */
export const EXCLUSION_REASONS = [
  'PRESCREEN_OPT_OUT',
  'CURRENTLY_OVERDUE',
  'OPEN_APPLICATION',
  'EXISTING_CARDHOLDER',
  'PARTNER_DELINQUENCY',
] as const;
export type ExclusionReason = (typeof EXCLUSION_REASONS)[number];

export const DELINQUENCY_SCOPES = ['ANY_PARTNER', 'SAME_PARTNER'] as const;
export type DelinquencyScope = (typeof DELINQUENCY_SCOPES)[number];

/** What the exclusions depend on besides the user: whose product it is. */
export interface ExclusionContext {
  /** partners.id of the product's partner (BIGINT as a decimal string). */
  partnerId: string;
  delinquencyScope: DelinquencyScope;
}

export type RelationshipKind = 'OPEN_APPLICATION' | 'CARDHOLDER';

/** Everything the exclusion tables say about one user (ExclusionFactsRepository loads it). */
export interface ExclusionFacts {
  prescreenOptOut: boolean;
  relationships: ReadonlyArray<{ partnerId: string; kind: RelationshipKind }>;
  delinquencies: ReadonlyArray<{ partnerId: string; dpd: number }>;
}

export const NO_EXCLUSION_FACTS: ExclusionFacts = { prescreenOptOut: false, relationships: [], delinquencies: [] };

/** Partner ids compared as canonical decimal text ("007" and 7 are the same partner). */
const samePartner = (a: string | number, b: string | number) => BigInt(a) === BigInt(b);

/**
 * The exclusions that apply, in EXCLUSION_REASONS order. `currentDpd` is the record's repayment.currentDpd
 * (null when unknown).
 */
export function evaluateExclusions(context: ExclusionContext, facts: ExclusionFacts, currentDpd: number | null): ExclusionReason[] {
  const hasRelationship = (kind: RelationshipKind) =>
    facts.relationships.some((r) => r.kind === kind && samePartner(r.partnerId, context.partnerId));
  const applies: Record<ExclusionReason, boolean> = {
    PRESCREEN_OPT_OUT: facts.prescreenOptOut,
    CURRENTLY_OVERDUE: currentDpd !== null && currentDpd > 0,
    OPEN_APPLICATION: hasRelationship('OPEN_APPLICATION'),
    EXISTING_CARDHOLDER: hasRelationship('CARDHOLDER'),
    PARTNER_DELINQUENCY: facts.delinquencies.some(
      (d) => d.dpd > 0 && (context.delinquencyScope === 'ANY_PARTNER' || samePartner(d.partnerId, context.partnerId)),
    ),
  };
  return EXCLUSION_REASONS.filter((reason) => applies[reason]);
}

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/**
 * Where each exclusion's facts are, described ONCE: either an expression over the record row, or "a row of this
 * exclusion table, keyed by user_id, matching this condition". Both SQL forms are built from it, so they cannot
 * drift apart (criteria-agreement.spec.ts checks each against the in-process evaluator):
 * - compileExclusions: the per-row form, a correlated EXISTS probe per user (one user, or any WHERE clause);
 * - compileExcludedUsers: the set form, the users an exclusion applies to, read from the exclusion table alone
 *   (a pre-screen chunk marks them in its evaluation table, so its cost follows the exclusion rows, not the users).
 */
type ExclusionSource =
  | { on: 'record'; sql: (alias: string) => string; params: unknown[] }
  | { on: 'table'; table: string; alias: string; condition: string; params: unknown[] };

function exclusionSources(context: ExclusionContext): Record<ExclusionReason, ExclusionSource> {
  const partnerId = BigInt(context.partnerId).toString();
  const relationship = (kind: RelationshipKind): ExclusionSource => ({
    on: 'table',
    table: 'partner_relationships',
    alias: 'x_pr',
    condition: 'x_pr.partner_id = CAST(? AS UNSIGNED) AND x_pr.kind = ?',
    params: [partnerId, kind],
  });
  return {
    PRESCREEN_OPT_OUT: { on: 'table', table: 'user_preferences', alias: 'x_up', condition: 'x_up.prescreen_opt_out = 1', params: [] },
    CURRENTLY_OVERDUE: { on: 'record', sql: (alias) => `(COALESCE(${alias}.current_dpd, 0) > 0)`, params: [] },
    OPEN_APPLICATION: relationship('OPEN_APPLICATION'),
    EXISTING_CARDHOLDER: relationship('CARDHOLDER'),
    PARTNER_DELINQUENCY:
      context.delinquencyScope === 'ANY_PARTNER'
        ? { on: 'table', table: 'partner_delinquencies', alias: 'x_pd', condition: 'x_pd.dpd > 0', params: [] }
        : {
            on: 'table',
            table: 'partner_delinquencies',
            alias: 'x_pd',
            condition: 'x_pd.partner_id = CAST(? AS UNSIGNED) AND x_pd.dpd > 0',
            params: [partnerId],
          },
  };
}

/**
 * One SQL expression per exclusion, over the credit_records row aliased `alias`, each 1 when the exclusion
 * applies and 0 otherwise (never NULL). Correlated EXISTS probes hit primary keys / indexes that lead with user_id.
 */
export function compileExclusions(alias: string, context: ExclusionContext): Record<ExclusionReason, SqlFragment> {
  const sources = exclusionSources(context);
  const compiled = {} as Record<ExclusionReason, SqlFragment>;
  for (const reason of EXCLUSION_REASONS) {
    const s = sources[reason];
    compiled[reason] =
      s.on === 'record'
        ? { sql: s.sql(alias), params: s.params }
        : {
            sql: `EXISTS (SELECT 1 FROM ${s.table} ${s.alias} WHERE ${s.alias}.user_id = ${alias}.user_id AND ${s.condition})`,
            params: s.params,
          };
  }
  return compiled;
}

/**
 * The users an exclusion kept in a table applies to, as `SELECT <user_id> FROM <table> WHERE <condition> AND
 * <restriction>` (a user may appear more than once: use it under IN). `restrict` gets the table's user_id column
 * and returns the restriction, e.g. a chunk's user_id range (the exclusion tables' keys lead with user_id, or
 * carry it after partner_id and kind, so a range restriction is an index range).
 */
export type ExcludedUsers = (restrict: (userIdColumn: string) => SqlFragment) => SqlFragment;

/**
 * The set form of the exclusions kept in tables, by reason; exclusions read off the record row itself
 * (CURRENTLY_OVERDUE) are absent: use compileExclusions' expression for those.
 */
export function compileExcludedUsers(context: ExclusionContext): Partial<Record<ExclusionReason, ExcludedUsers>> {
  const sources = exclusionSources(context);
  const compiled: Partial<Record<ExclusionReason, ExcludedUsers>> = {};
  for (const reason of EXCLUSION_REASONS) {
    const s = sources[reason];
    if (s.on !== 'table') continue;
    compiled[reason] = (restrict) => {
      const column = `${s.alias}.user_id`;
      const r = restrict(column);
      return { sql: `SELECT ${column} FROM ${s.table} ${s.alias} WHERE ${s.condition} AND ${r.sql}`, params: [...s.params, ...r.params] };
    };
  }
  return compiled;
}
