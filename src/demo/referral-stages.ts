import { randomBytes } from 'node:crypto';

import { loadConfig } from '../infra/config/load-config';
import { mintDevelopmentPlatformToken } from '../modules/auth/platform-token.dev';
import { syntheticCreditRecords } from '../modules/credit-records/synthetic/synthetic-credit-records';
import { PartnerBankClient } from './bank-client';
import type { DemoContext, DemoStage } from './demo';
import { DemoStop } from './demo';

/**
 * The referral path of the demo: operator onboarding, ingest, pre-screen, applications, and the demo bank (jose and
 * Node http only) fetching, verifying, acknowledging and deciding, then polling its feed. Every run uses fresh codes
 * and user ids, so the demo can be run again and again against the same gateway.
 */
const USERS = 30;
const APPLICANTS = 4;
const SHARED_FIELDS = ['applicant.name', 'applicant.kycLevel', 'creditRecord.score', 'creditRecord.riskGrade', 'creditRecord.repayment'];

export interface DemoState {
  run: string;
  tokens: (roles: Array<'platform' | 'user' | 'admin'>, sub?: string) => string;
  bank: PartnerBankClient;
  partnerCode: string;
  productCode: string;
  userIds: string[];
  referrals: string[];
  /** The first pre-screen's reason counts, to compare a later run with. */
  prescreenReasons?: Record<string, number>;
}

export const state = (ctx: DemoContext) => ctx.state as unknown as DemoState;
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new DemoStop(`${what} did not happen within ${timeoutMs / 1000} s: is a worker running (npm start runs both roles)?`);
    await sleep(250);
  }
}

export function expectStatus(what: string, res: { status: number; body: unknown }, ...ok: number[]) {
  if (!ok.includes(res.status)) throw new DemoStop(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
}

const onboarding: DemoStage = {
  title: 'Operator onboards a demo bank (its own fresh ES256 key pair) and a card product',
  async run(ctx) {
    // The demo is a development tool (it mints HS256 platform tokens), so it asks for development itself; the
    // gateway it talks to must have been started with NODE_ENV=development too (unset means production there).
    process.env.NODE_ENV ??= 'development';
    const config = loadConfig();
    const s = state(ctx);
    s.run = randomBytes(3).toString('hex').toUpperCase();
    s.tokens = (roles, sub = `demo-${roles[0]}`) => {
      try {
        return mintDevelopmentPlatformToken(config, { sub, roles, expiresInSeconds: 900 });
      } catch (error) {
        throw new DemoStop(
          `cannot mint platform tokens (${(error as Error).message}); run the demo with NODE_ENV=development next to the gateway's .local/`,
        );
      }
    };
    s.partnerCode = `DEMO_BANK_${s.run}`;
    s.productCode = `DEMO-CARD-${s.run}`;
    s.bank = new PartnerBankClient({ baseUrl: ctx.baseUrl, issuer: config.publicBaseUrl, clientId: s.partnerCode });
    const admin = bearer(s.tokens(['admin']));
    const partner = await ctx.request('POST', '/v1/admin/partners', {
      headers: admin,
      body: { code: s.partnerCode, name: 'Demo Bank', jwks: await s.bank.publicJwks() },
    });
    expectStatus('partner registration', partner, 201);
    ctx.log(
      `POST /v1/admin/partners -> 201 clientId ${s.partnerCode} (public key kid ${s.bank.kid}; the private key stays in this process)`,
    );
    const product = await ctx.request('POST', '/v1/admin/card-products', {
      headers: admin,
      body: {
        code: s.productCode,
        partnerCode: s.partnerCode,
        name: 'Demo Platinum',
        criteria: [
          { field: 'score', op: '>=', value: 600, reason: 'SCORE_TOO_LOW' },
          { field: 'repayment.maxDpd24m', op: '<=', value: 30, reason: 'RECENT_DELINQUENCY' },
        ],
        sharedFields: SHARED_FIELDS,
        consentText: `I agree that my ${SHARED_FIELDS.join(', ')} are shared with Demo Bank to decide on my card application.`,
        purpose: 'credit card application decision',
        decisionSlaHours: 72,
      },
    });
    expectStatus('card product', product, 201);
    ctx.log(
      `POST /v1/admin/card-products -> 201 ${s.productCode} v${(product.body as { version: number }).version}, SLA 72 h, shares ${SHARED_FIELDS.length} fields`,
    );
  },
};

const ingest: DemoStage = {
  title: `Platform ingests ${USERS} synthetic credit records`,
  async run(ctx) {
    const s = state(ctx);
    const records = [...syntheticCreditRecords({ users: USERS, seed: s.run, userIdPrefix: `demo${s.run.toLowerCase()}_`, idWidth: 3 })];
    s.userIds = records.map((r) => r.userId);
    const res = await ctx.request('POST', '/v1/platform/credit-records', { headers: bearer(s.tokens(['platform'])), body: records });
    expectStatus('ingest', res, 200);
    const b = res.body as { accepted: number; ignored: number; rejected: unknown[] };
    ctx.log(`POST /v1/platform/credit-records -> 200 accepted ${b.accepted}, ignored ${b.ignored}, rejected ${b.rejected.length}`);
  },
};

const prescreen: DemoStage = {
  title: 'Operator runs a pre-screen (the worker evaluates every current record)',
  async run(ctx) {
    const s = state(ctx);
    const admin = bearer(s.tokens(['admin']));
    const started = await ctx.request('POST', `/v1/admin/card-products/${s.productCode}/prescreen-runs`, { headers: admin, body: {} });
    expectStatus('pre-screen', started, 202);
    const id = (started.body as { id: string }).id;
    const run = await until('the pre-screen run', async () => {
      const r = await ctx.request('GET', `/v1/admin/prescreen-runs/${id}`, { headers: admin });
      const body = r.body as { status: string };
      if (body.status === 'FAILED') throw new DemoStop(`pre-screen run ${id} failed`);
      return body.status === 'COMPLETED'
        ? (r.body as { counts: Record<string, number>; reasons: Record<string, number>; progress: Record<string, number> })
        : undefined;
    });
    ctx.log(
      `run ${id} COMPLETED: evaluated ${run.progress.evaluated}, eligible ${run.counts.eligible}, offers ${run.counts.offersCreated}`,
    );
    ctx.log(`reasons: ${JSON.stringify(run.reasons)} (counted over every current record, not only this demo's)`);
    s.prescreenReasons = run.reasons;
  },
};

const applications: DemoStage = {
  title: `Up to ${APPLICANTS} users read the consent text and apply through /v1/me`,
  async run(ctx) {
    const s = state(ctx);
    s.referrals = [];
    for (const userId of s.userIds) {
      if (s.referrals.length === APPLICANTS) break;
      const user = bearer(s.tokens(['user'], userId));
      const offers = await ctx.request('GET', '/v1/me/offers', { headers: user });
      const offer = (offers.body as { data?: Array<{ id: string; productCode: string }> }).data?.find(
        (o) => o.productCode === s.productCode,
      );
      if (!offer) continue;
      const consent = (await ctx.request('GET', `/v1/me/offers/${offer.id}/consent`, { headers: user })).body as {
        textVersion: number;
        textSha256: string;
      };
      const applied = await ctx.request('POST', '/v1/me/applications', {
        headers: user,
        body: { offerId: offer.id, consent: { textVersion: consent.textVersion, textSha256: consent.textSha256, accepted: true } },
      });
      expectStatus('application', applied, 201);
      const referral = applied.body as { id: string; status: string };
      s.referrals.push(referral.id);
      ctx.log(
        `${userId}: offer ${offer.id}, consent v${consent.textVersion} sha256 ${consent.textSha256.slice(0, 12)}… -> referral ${referral.id} ${referral.status}`,
      );
    }
    if (s.referrals.length === 0) throw new DemoStop('no demo user got an offer; try again (users are random per run)');
  },
};

const bankFetches: DemoStage = {
  title: 'The demo bank takes a token, fetches, verifies and acknowledges its referrals',
  async run(ctx) {
    const s = state(ctx);
    await s.bank.token();
    ctx.log(`POST /oauth/token (private_key_jwt, ES256) -> 200 access token for ${s.partnerCode}`);
    const ready = await until('packaging of the referral files', async () => {
      const res = await s.bank.listReferrals({ limit: 500 });
      const mine = (res.body.data as Array<{ id: string; status: string }>).filter((r) => s.referrals.includes(r.id));
      return mine.length === s.referrals.length ? mine : undefined;
    });
    ctx.log(`GET /partner/v1/referrals -> ${ready.length} referrals READY`);
    for (const id of s.referrals) {
      const fetched = await s.bank.fetchReferral(id);
      if (fetched.status !== 200) throw new DemoStop(`fetch of ${id} answered ${fetched.status}`);
      const { header, claims } = await s.bank.verifyReferralFile(fetched.body.file, id);
      const ref = claims.referral;
      const ack = await s.bank.acknowledge(id);
      ctx.log(
        `${id}: file verified against the JWKS (alg ${header.alg}, kid ${String(header.kid).slice(0, 16)}…), score ${ref.creditRecord.score} ` +
          `grade ${ref.creditRecord.riskGrade}, consent ${ref.consent.id}; acknowledged -> ${ack.status} ${ack.body.status}`,
      );
    }
  },
};

const bankDecides: DemoStage = {
  title: 'The demo bank approves some referrals and declines others',
  async run(ctx) {
    const s = state(ctx);
    for (const [i, id] of s.referrals.entries()) {
      const approve = i % 2 === 0;
      const body = approve
        ? { decision: 'APPROVED', decidedAt: new Date().toISOString(), creditLimit: '20000.00', cardLast4: String(1000 + i * 7).slice(-4) }
        : { decision: 'DECLINED', decidedAt: new Date().toISOString(), declineReasons: ['INCOME_NOT_VERIFIED'] };
      const res = await s.bank.call('POST', `/partner/v1/referrals/${id}/decision`, body);
      if (res.status === 404 && i === 0) {
        ctx.log('skipped: POST /partner/v1/referrals/{id}/decision answers 404 here: this gateway does not have decisions yet');
        return;
      }
      if (res.status !== 200) throw new DemoStop(`decision on ${id} answered ${res.status}: ${JSON.stringify(res.body)}`);
      ctx.log(`POST /partner/v1/referrals/${id}/decision ${body.decision} -> 200 ${res.body.status}`);
    }
    const seen = s.referrals[0];
    const userId = await owner(ctx, seen);
    if (userId) {
      const app = await ctx.request('GET', `/v1/me/applications/${seen}`, { headers: bearer(s.tokens(['user'], userId)) });
      const body = app.body as { status: string; timeline?: Array<{ status?: string; toStatus?: string }> };
      ctx.log(`the applicant sees ${seen} as ${body.status} (timeline of ${body.timeline?.length ?? 0} entries)`);
    }
  },
};

/** The demo user behind a referral, by asking each demo user's application list (the demo knows no database). */
export async function owner(ctx: DemoContext, referralId: string): Promise<string | undefined> {
  const s = state(ctx);
  for (const userId of s.userIds) {
    const res = await ctx.request('GET', '/v1/me/applications', { headers: bearer(s.tokens(['user'], userId)) });
    if ((res.body as { data?: Array<{ id: string }> }).data?.some((a) => a.id === referralId)) return userId;
  }
  return undefined;
}

const bankPolls: DemoStage = {
  title: 'The demo bank polls its event feed (RFC 8936) and acknowledges what it got',
  async run(ctx) {
    const s = state(ctx);
    const counts = new Map<string, number>();
    let ack: string[] = [];
    for (let round = 0; round < 10; round++) {
      const res = await s.bank.call('POST', '/partner/v1/events/poll', { maxEvents: 100, returnImmediately: true, ack });
      if (res.status !== 200) throw new DemoStop(`poll answered ${res.status}: ${JSON.stringify(res.body)}`);
      const sets = res.body.sets as Record<string, string>;
      for (const set of Object.values(sets)) {
        const claims = JSON.parse(Buffer.from(set.split('.')[1], 'base64url').toString('utf8')) as { events: Record<string, unknown> };
        for (const uri of Object.keys(claims.events)) {
          const type = uri.split('/').pop()!;
          counts.set(type, (counts.get(type) ?? 0) + 1);
        }
      }
      ack = Object.keys(sets);
      if (ack.length === 0 && !res.body.moreAvailable) break;
    }
    ctx.log(`events received and acknowledged: ${[...counts].map(([t, n]) => `${t} × ${n}`).join(', ') || 'none'}`);
  },
};

const operatorViews: DemoStage = {
  title: 'Operator statistics and the late-referral listing',
  async run(ctx) {
    const s = state(ctx);
    const admin = bearer(s.tokens(['admin']));
    const stats = await ctx.request('GET', `/v1/admin/statistics/referrals?partner=${s.partnerCode}`, { headers: admin });
    expectStatus('statistics', stats, 200);
    for (const row of (stats.body as { data: Array<Record<string, any>> }).data) {
      const nonZero = Object.entries(row.byStatus as Record<string, number>)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`);
      const t = row.timeToDecisionSeconds;
      ctx.log(
        `${row.partnerCode}/${row.productCode}: ${row.total} referrals (${nonZero.join(', ')}), approval rate ${row.approvalRate ?? 'n/a'}, ` +
          `time to decision median ${t?.median ?? 'n/a'} s, p90 ${t?.p90 ?? 'n/a'} s, SLA breaches ${row.slaBreaches}`,
      );
    }
    const late = await ctx.request('GET', `/v1/admin/referrals/late?partner=${s.partnerCode}`, { headers: admin });
    expectStatus('late listing', late, 200);
    ctx.log(`GET /v1/admin/referrals/late -> ${(late.body as { data: unknown[] }).data.length} late referrals (the SLA is 72 h)`);
  },
};

export const REFERRAL_STAGES: DemoStage[] = [
  onboarding,
  ingest,
  prescreen,
  applications,
  bankFetches,
  bankDecides,
  bankPolls,
  operatorViews,
];
