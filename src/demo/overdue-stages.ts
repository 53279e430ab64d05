import { DEFAULT_SYNTHETIC_AS_OF } from '../modules/credit-records/synthetic/synthetic-credit-records';
import type { DemoContext, DemoStage } from './demo';
import { DemoStop } from './demo';
import { bearer, expectStatus, owner, sleep, state, until } from './referral-stages';

/**
 * The overdue-sharing path of the demo (API.md "Overdue sharing"): one demo cardholder falls behind on the
 * platform's credit, is told first, is reported once the notice period has passed, updated, repays and is cured —
 * daily scans for past business dates, as a catch-up after an outage runs them — and the demo bank takes the day's
 * signed file and reports a card delinquency of another cardholder that the next pre-screen excludes.
 *
 * Scans are global and their dates only move forward (409 for an earlier one), so the story takes STORY_DAYS
 * consecutive business dates right after the latest completed scan — on a fresh database, from the day after the
 * demo's credit records (DEFAULT_SYNTHETIC_AS_OF: a repayment state before it would be older than the stored one).
 * Each run takes the next free dates, so the demo runs again on the same database (and next to the test suite's own
 * scans) until the dates reach today. When none are left (e.g. the daily scan already ran today), it says so and goes
 * on with the bank's part.
 */
const NOTICE_DAYS = 1;
const STORY_DAYS = NOTICE_DAYS + 3; // the notice, then NEW once the notice period has passed, UPDATED, CURED

interface OverdueDemoState {
  /** The approved referrals and their users, in decision order. */
  cardholders: Array<{ referralId: string; userId: string }>;
  /** The story's dates, or undefined when the gateway had no free business dates left. */
  dates?: string[];
}

const overdueState = (ctx: DemoContext) => ctx.state as unknown as OverdueDemoState;
const day = (iso: string, delta: number) => new Date(Date.parse(`${iso}T00:00:00Z`) + delta * 86_400_000).toISOString().slice(0, 10);
const today = () => new Date().toISOString().slice(0, 10);

/** Starts a scan for `asOf` and waits for it to complete; undefined with the latest completed date when it is behind. */
async function runScan(ctx: DemoContext, asOf: string): Promise<{ counts: Record<string, number> } | { behind: string }> {
  const admin = bearer(state(ctx).tokens(['admin']));
  for (let attempt = 0; ; attempt++) {
    const started = await ctx.request('POST', '/v1/admin/overdue-scans', { headers: admin, body: { asOf } });
    const problem = started.body as { type?: string; detail?: string };
    if (started.status === 409 && problem.type?.endsWith('/overdue-scan-date-behind')) {
      // The problem's detail names the latest completed scan's date (an operator reads it the same way).
      const latest = /\((\d{4}-\d{2}-\d{2})\)/.exec(problem.detail ?? '')?.[1];
      if (!latest) throw new DemoStop(`the scan of ${asOf} is behind, but the answer names no date: ${JSON.stringify(started.body)}`);
      return { behind: latest };
    }
    if (started.status === 409 && attempt < 60) {
      await sleep(1000); // another scan (the daily one?) is running: wait for it to end
      continue;
    }
    expectStatus(`overdue scan of ${asOf}`, started, 202);
    const id = (started.body as { id: string }).id;
    return until(`the overdue scan of ${asOf}`, async () => {
      const view = (await ctx.request('GET', `/v1/admin/overdue-scans/${id}`, { headers: admin })).body as {
        status: string;
        counts: Record<string, number>;
        failureReason?: string;
      };
      if (view.status === 'FAILED') throw new DemoStop(`overdue scan ${id} failed: ${view.failureReason}`);
      return view.status === 'COMPLETED' ? view : undefined;
    });
  }
}

async function scanOrStop(ctx: DemoContext, asOf: string) {
  const result = await runScan(ctx, asOf);
  if ('behind' in result) throw new DemoStop(`a scan of ${result.behind} completed meanwhile: start the demo again`);
  return result;
}

const describeCounts = (c: Record<string, number>) =>
  `cardholders ${c.cardholders}, notices ${c.noticesSent}, cancelled ${c.noticesCancelled}, reported ${c.reported}, ` +
  `updated ${c.updated}, cured ${c.cured}, suppressed ${c.suppressed}`;

async function postRepayment(ctx: DemoContext, lines: Array<{ userId: string; currentDpd: number; overdueAmount: string; asOf: string }>) {
  const res = await ctx.request('POST', '/v1/platform/repayment-status', {
    headers: bearer(state(ctx).tokens(['platform'])),
    body: lines,
  });
  expectStatus('repayment status', res, 200);
  const b = res.body as { accepted: number; rejected: unknown[] };
  if (b.rejected.length) throw new DemoStop(`repayment status lines rejected: ${JSON.stringify(b.rejected)}`);
  ctx.log(
    `POST /v1/platform/repayment-status -> 200 accepted ${b.accepted}: ${lines.map((l) => `${l.asOf} dpd ${l.currentDpd}`).join(', ')}`,
  );
}

const fallsBehind: DemoStage = {
  title: `A cardholder falls behind; the operator gives the demo bank a ${NOTICE_DAYS}-day notice period (default 7)`,
  async run(ctx) {
    const s = state(ctx);
    const o = overdueState(ctx);
    o.cardholders = [];
    for (const [i, referralId] of s.referrals.entries()) {
      if (i % 2 !== 0) continue; // the demo bank approved every other referral
      const userId = await owner(ctx, referralId);
      if (userId) o.cardholders.push({ referralId, userId });
    }
    if (o.cardholders.length === 0) throw new DemoStop('the demo bank approved no referral, so there is no cardholder to follow');
    const patched = await ctx.request('PATCH', `/v1/admin/partners/${s.partnerCode}`, {
      headers: bearer(s.tokens(['admin'])),
      body: { noticeDays: NOTICE_DAYS },
    });
    expectStatus('partner update', patched, 200);
    ctx.log(`PATCH /v1/admin/partners/${s.partnerCode} noticeDays ${NOTICE_DAYS} -> 200 (threshold 30 days past due)`);

    // The first date the gateway accepts: the day after the credit records, or after the latest completed scan.
    const { userId } = o.cardholders[0];
    let first = day(DEFAULT_SYNTHETIC_AS_OF, 1);
    await postRepayment(ctx, [{ userId, currentDpd: 31, overdueAmount: '310.00', asOf: first }]);
    let firstScan = await runScan(ctx, first);
    if ('behind' in firstScan) {
      first = day(firstScan.behind, 1);
      if (day(first, STORY_DAYS - 1) > today()) {
        ctx.log(
          `skipped: this gateway has scanned up to ${firstScan.behind} already and scan dates only move forward, so the ` +
            `${STORY_DAYS} business dates of the story are not free (run the demo on a fresh database, or with OVERDUE_SCAN_CRON=off)`,
        );
        return;
      }
      await postRepayment(ctx, [{ userId, currentDpd: 31, overdueAmount: '310.00', asOf: first }]);
      firstScan = await scanOrStop(ctx, first);
    }
    o.dates = Array.from({ length: STORY_DAYS }, (_, i) => day(first, i));
    // The rest of the user's repayment history, as the platform knows it by the time the catch-up runs.
    await postRepayment(ctx, [
      { userId, currentDpd: 33, overdueAmount: '330.00', asOf: o.dates[NOTICE_DAYS] },
      { userId, currentDpd: 62, overdueAmount: '640.00', asOf: o.dates[NOTICE_DAYS + 1] },
      { userId, currentDpd: 0, overdueAmount: '0.00', asOf: o.dates[NOTICE_DAYS + 2] },
    ]);
    ctx.log(`scan ${first} COMPLETED: ${describeCounts(firstScan.counts)}`);

    // The decision job enrols a cardholder seconds after the approval; until then a scan does not see it. Scanning
    // the same date again is allowed and changes nothing else.
    const user = bearer(s.tokens(['user'], userId));
    const notice = await until('the overdue notice', async () => {
      const res = await ctx.request('GET', '/v1/me/overdue-notices', { headers: user });
      const found = (res.body as { data: Array<Record<string, string>> }).data.find((n) => n.referralId === o.cardholders[0].referralId);
      if (!found) await scanOrStop(ctx, first);
      return found;
    });
    ctx.log(
      `${userId} is told first: GET /v1/me/overdue-notices -> ${notice.status} notice ${notice.id}, dpd ${notice.dpd}, ` +
        `${notice.overdueAmount} overdue, shared on ${notice.shareOn} unless repaid (nothing has gone to the bank)`,
    );
  },
};

const reportedUpdatedCured: DemoStage = {
  title: 'The catch-up scans the following business dates: reported, updated, cured',
  async run(ctx) {
    const s = state(ctx);
    const o = overdueState(ctx);
    if (!o.dates) return void ctx.log('skipped (no free business dates, see above)');
    const { referralId, userId } = o.cardholders[0];
    // dates[NOTICE_DAYS] is the first date on or after shareOn; the dates between only see the notice period run.
    const expected = ['NEW', 'UPDATED', 'CURED'];
    for (const [i, asOf] of o.dates.slice(1).entries()) {
      const want = expected[i - (NOTICE_DAYS - 1)] as string | undefined;
      const scanned = await scanOrStop(ctx, asOf);
      ctx.log(`scan ${asOf} COMPLETED: ${describeCounts(scanned.counts)}`);
      if (!want) continue;
      // A report waits for the notice to have been delivered; if the notification job was slower than the scan, the
      // same date is scanned again.
      const record = await until(`the ${want} record of ${asOf}`, async () => {
        const res = await s.bank.call('GET', '/partner/v1/overdue-reports?limit=500');
        const found = (res.body.data as Array<Record<string, string>>).find(
          (r) => r.referralId === referralId && r.reportDate === asOf && r.status === want,
        );
        if (!found) await scanOrStop(ctx, asOf);
        return found;
      });
      ctx.log(
        `  the bank sees ${record.id} ${record.status}: dpd ${record.dpd} (bucket ${record.dpdBucket}), account status ` +
          `${record.accountStatus}, ${record.overdueAmount} overdue since ${record.overdueSince}`,
      );
    }
    const notices = await ctx.request('GET', '/v1/me/overdue-notices', { headers: bearer(s.tokens(['user'], userId)) });
    const mine = (notices.body as { data: Array<{ referralId: string; status: string }> }).data.filter((n) => n.referralId === referralId);
    const disclosures = await ctx.request('GET', '/v1/me/disclosures', { headers: bearer(s.tokens(['user'], userId)) });
    const shared = (disclosures.body as { data: Array<{ kind: string }> }).data.filter((d) => d.kind === 'OVERDUE_REPORT');
    ctx.log(`${userId} sees the notice ${mine.map((n) => n.status).join(', ')} and ${shared.length} overdue reports in /v1/me/disclosures`);
  },
};

const bankTakesTheFile: DemoStage = {
  title: "The demo bank fetches and verifies the day's signed overdue report file",
  async run(ctx) {
    const s = state(ctx);
    const o = overdueState(ctx);
    const date = o.dates ? o.dates[o.dates.length - 1] : today();
    const res = await s.bank.overdueReportFiles(date);
    if (res.status === 404) return void ctx.log(`GET /partner/v1/overdue-report-files/${date} -> 404 (no completed scan of ${date})`);
    expectStatus('overdue report files', res, 200);
    const body = res.body as { reportDate: string; parts: number; files: string[] };
    for (const file of body.files) {
      const { header, claims } = await s.bank.verifyOverdueReportFile(file, date);
      const statuses = (claims.records as Array<{ status: string }>).map((r) => r.status);
      ctx.log(
        `part ${claims.part}/${claims.parts} verified against the JWKS (typ ${header.typ}, kid ${String(header.kid).slice(0, 16)}…): ` +
          `${claims.recordCount} records${statuses.length ? ` (${statuses.join(', ')})` : ''}`,
      );
    }
    const again = await s.bank.overdueReportFiles(date);
    const same = JSON.stringify(again.body) === JSON.stringify(res.body);
    ctx.log(`asked again: ${same ? 'byte-identical files' : 'DIFFERENT files'} (they are built once and stored with their digest)`);
    if (!same) throw new DemoStop('the second fetch of the daily file returned different bytes');
  },
};

const bankReportsDelinquency: DemoStage = {
  title: "The demo bank reports another cardholder's card delinquency; the next pre-screen excludes the user",
  async run(ctx) {
    const s = state(ctx);
    const o = overdueState(ctx);
    const target = o.cardholders[1] ?? o.cardholders[0];
    if (!o.cardholders[1]) ctx.log('(the bank approved one referral only, so it reports on that cardholder)');
    const body = { referralId: target.referralId, dpd: 45, amountOverdue: '1200.00', asOf: today() };
    const res = await s.bank.call('POST', '/partner/v1/delinquencies', body);
    expectStatus('delinquency report', res, 201);
    ctx.log(`POST /partner/v1/delinquencies ${target.referralId} dpd 45 -> 201 ${res.body.id}`);
    const again = await s.bank.call('POST', '/partner/v1/delinquencies', body);
    ctx.log(`the same report again -> ${again.status} ${again.body.id} (idempotent: the same record)`);

    const admin = bearer(s.tokens(['admin']));
    const started = await ctx.request('POST', `/v1/admin/card-products/${s.productCode}/prescreen-runs`, { headers: admin, body: {} });
    expectStatus('pre-screen', started, 202);
    const id = (started.body as { id: string }).id;
    const run = await until('the pre-screen run', async () => {
      const r = (await ctx.request('GET', `/v1/admin/prescreen-runs/${id}`, { headers: admin })).body as {
        status: string;
        reasons: Record<string, number>;
      };
      if (r.status === 'FAILED') throw new DemoStop(`pre-screen run ${id} failed`);
      return r.status === 'COMPLETED' ? r : undefined;
    });
    const before = s.prescreenReasons?.PARTNER_DELINQUENCY ?? 0;
    const after = run.reasons.PARTNER_DELINQUENCY ?? 0;
    ctx.log(
      `run ${id} COMPLETED: PARTNER_DELINQUENCY ${after} (the first run of this demo: ${before}; every bank's reports count, ` +
        'as the product keeps the default delinquencyScope ANY_PARTNER)',
    );
    if (after <= before) throw new DemoStop('the pre-screen did not count the reported delinquency');
  },
};

export const OVERDUE_STAGES: DemoStage[] = [fallsBehind, reportedUpdatedCured, bankTakesTheFile, bankReportsDelinquency];
