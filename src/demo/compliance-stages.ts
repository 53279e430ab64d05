import type { DemoContext, DemoStage } from './demo';
import { DemoStop } from './demo';

/**
 * The demo's compliance end: an officer's token, one demo applicant's timeline and the audit chain verified through
 * the compliance API, then the console's address to carry on in a browser. Kept apart from the referral stages so
 * that other steps' stages can be added before it without touching it.
 */
interface ComplianceDemoState {
  tokens: (roles: Array<'user' | 'compliance'>, sub?: string) => string;
  userIds: string[];
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const complianceOfficer: DemoStage = {
  title: "A compliance officer opens an applicant's timeline and verifies the audit chain",
  async run(ctx: DemoContext) {
    const s = ctx.state as unknown as ComplianceDemoState;
    // The first demo user with an application is the one worth looking up.
    let userId: string | undefined;
    for (const id of s.userIds ?? []) {
      const apps = await ctx.request('GET', '/v1/me/applications?limit=1', { headers: bearer(s.tokens(['user'], id)) });
      if (apps.status === 200 && (apps.body as { data: unknown[] }).data.length > 0) {
        userId = id;
        break;
      }
    }
    if (!userId) throw new DemoStop('no demo user has an application to look up');
    const token = s.tokens(['compliance'], 'demo-compliance-officer');

    const timeline = await ctx.request('GET', `/v1/compliance/users/${encodeURIComponent(userId)}/timeline?limit=500`, {
      headers: bearer(token),
    });
    if (timeline.status !== 200) throw new DemoStop(`the timeline answered ${timeline.status}: ${JSON.stringify(timeline.body)}`);
    const entries = (timeline.body as { data: Array<{ kind: string }> }).data;
    const kinds = [...new Set(entries.map((e) => e.kind))];
    // The name block is PII: the demo prints counts, the console shows the rest to the officer.
    ctx.log(`GET /v1/compliance/users/${userId}/timeline -> 200, ${entries.length} entries (${kinds.join(', ')})`);

    const verify = await ctx.request('GET', '/v1/compliance/audit/verify', { headers: bearer(token) });
    if (verify.status !== 200) throw new DemoStop(`verify answered ${verify.status}: ${JSON.stringify(verify.body)}`);
    const v = verify.body as {
      ok: boolean;
      checkedFrom: number;
      checkedThrough: number;
      checkpointsVerified: number;
      firstBrokenSeq?: number;
    };
    ctx.log(
      `GET /v1/compliance/audit/verify -> ok ${v.ok}, seq ${v.checkedFrom}..${v.checkedThrough}, ` +
        `${v.checkpointsVerified} signed checkpoints verified${v.firstBrokenSeq !== undefined ? `, first broken seq ${v.firstBrokenSeq}` : ''}`,
    );
    ctx.log(`Compliance console: ${new URL('/console', ctx.baseUrl).href}#token=${token}`);
    ctx.log(`  (the token lives 15 minutes, in the tab only); look up user ${userId}`);
  },
};

export const COMPLIANCE_STAGES: DemoStage[] = [complianceOfficer];
