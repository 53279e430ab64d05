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
 * One SQL expression per exclusion, over the credit_records row aliased `alias`, each 1 when the exclusion
 * applies and 0 otherwise (never NULL). Correlated EXISTS probes hit primary keys / indexes that lead with user_id.
 */
export function compileExclusions(alias: string, context: ExclusionContext): Record<ExclusionReason, SqlFragment> {
  const partnerId = BigInt(context.partnerId).toString();
  const relationship = (kind: RelationshipKind): SqlFragment => ({
    sql: `EXISTS (SELECT 1 FROM partner_relationships x_pr WHERE x_pr.user_id = ${alias}.user_id AND x_pr.partner_id = CAST(? AS UNSIGNED) AND x_pr.kind = ?)`,
    params: [partnerId, kind],
  });
  return {
    PRESCREEN_OPT_OUT: {
      sql: `EXISTS (SELECT 1 FROM user_preferences x_up WHERE x_up.user_id = ${alias}.user_id AND x_up.prescreen_opt_out = 1)`,
      params: [],
    },
    CURRENTLY_OVERDUE: { sql: `(COALESCE(${alias}.current_dpd, 0) > 0)`, params: [] },
    OPEN_APPLICATION: relationship('OPEN_APPLICATION'),
    EXISTING_CARDHOLDER: relationship('CARDHOLDER'),
    PARTNER_DELINQUENCY:
      context.delinquencyScope === 'ANY_PARTNER'
        ? {
            sql: `EXISTS (SELECT 1 FROM partner_delinquencies x_pd WHERE x_pd.user_id = ${alias}.user_id AND x_pd.dpd > 0)`,
            params: [],
          }
        : {
            sql: `EXISTS (SELECT 1 FROM partner_delinquencies x_pd WHERE x_pd.user_id = ${alias}.user_id AND x_pd.partner_id = CAST(? AS UNSIGNED) AND x_pd.dpd > 0)`,
            params: [partnerId],
          },
  };
}
