import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { keyOf } from '../../src/common/public-id';
import { utcToday } from '../../src/modules/overdue/overdue-scan';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { eventually } from './app';
import { adminHeaders, BankClient, inject, platformToken } from './partner-client';
import { applyAfterPrescreen, createProduct } from './referral-flow';

/**
 * Overdue sharing through the public API: cardholders made the way they really are (pre-screen, apply, the bank
 * fetches and approves), repayment-status lines from the platform, scans started and awaited as operators do.
 */

export const platformHeaders = () => ({ authorization: `Bearer ${platformToken(['platform'])}` });

/**
 * The credit records of the scanning specs' cardholders are dated early in the year, so that the specs have most of
 * the year's business dates to scan: scans are global and dates only move forward within one test database.
 */
export const SCAN_FIXTURES_AS_OF = '2026-01-01';

/**
 * The dates a spec may scan: `n` consecutive days right after the latest completed scan, or from the day after the
 * scanning fixtures' credit records (a repayment state before them would be older than the stored one) when nothing
 * was scanned yet. Every spec takes the next free days and leaves the later ones to the specs that run after it.
 */
export async function scanDates(db: DataSource, n: number): Promise<string[]> {
  const [row] = await db.query("SELECT DATE_FORMAT(MAX(as_of), '%Y-%m-%d') AS latest FROM overdue_scans WHERE status = 'COMPLETED'");
  const day = (iso: string, delta: number) => new Date(Date.parse(`${iso}T00:00:00Z`) + delta * 86_400_000).toISOString().slice(0, 10);
  const first = day(row.latest ?? SCAN_FIXTURES_AS_OF, 1);
  const dates = Array.from({ length: n }, (_, i) => day(first, i));
  if (dates[n - 1] > utcToday()) throw new Error(`not enough days left to scan after ${row.latest}`);
  return dates;
}

/** Registers the bank, makes a product and turns `users` into its approved cardholders. Returns their referral ids. */
export async function makeCardholders(
  api: NestFastifyApplication,
  db: DataSource,
  bank: BankClient,
  users: string[],
  partner: Record<string, unknown> = {},
): Promise<string[]> {
  await bank.register(api, partner);
  const productCode = await createProduct(api, bank.code, ['creditRecord.score']);
  const refs = await applyAfterPrescreen(api, users, productCode, SCAN_FIXTURES_AS_OF);
  const token = await bank.accessToken(api);
  for (const ref of refs) {
    await api.get(ReferralPackagingProcessor).package({ referralId: keyOf('ref', ref)!, correlationId: 'test' });
    const fetched = await inject(api, {
      method: 'GET',
      url: `/partner/v1/referrals/${ref}`,
      headers: { authorization: `Bearer ${token}` },
    });
    if (fetched.statusCode !== 200) throw new Error(`fetch: ${fetched.statusCode} ${fetched.body}`);
    const decided = await inject(api, {
      method: 'POST',
      url: `/partner/v1/referrals/${ref}/decision`,
      headers: { authorization: `Bearer ${token}` },
      payload: { decision: 'APPROVED', decidedAt: new Date().toISOString(), creditLimit: '20000.00', cardLast4: '4321' },
    });
    if (decided.statusCode !== 200) throw new Error(`decision: ${decided.statusCode} ${decided.body}`);
  }
  // The decision job (a running worker) enrols the cardholders.
  await eventually(async () => {
    const [row] = await db.query('SELECT COUNT(*) AS n FROM cardholders WHERE user_id IN (?)', [users]);
    return Number(row.n) === users.length;
  }, 30_000);
  return refs;
}

export async function postRepaymentStatus(
  api: NestFastifyApplication,
  lines: Array<{ userId: string; currentDpd: number; overdueAmount: string; asOf: string }>,
) {
  const res = await inject(api, {
    method: 'POST',
    url: '/v1/platform/repayment-status',
    headers: { ...platformHeaders(), 'content-type': 'application/x-ndjson' },
    payload: lines.map((l) => JSON.stringify(l)).join('\n'),
  });
  if (res.statusCode !== 200 || res.json().rejected.length) throw new Error(`repayment status: ${res.statusCode} ${res.body}`);
  return res.json();
}

export const startScan = (api: NestFastifyApplication, asOf: string, extra: Record<string, unknown> = {}) =>
  inject(api, { method: 'POST', url: '/v1/admin/overdue-scans', headers: adminHeaders(), payload: { asOf, ...extra } });

export const getScan = async (api: NestFastifyApplication, id: string) =>
  (await inject(api, { method: 'GET', url: `/v1/admin/overdue-scans/${id}`, headers: adminHeaders() })).json();

/** Starts a scan for `asOf` and waits for it to complete (needs a worker); returns the scan's final view. */
export async function scan(api: NestFastifyApplication, asOf: string) {
  const res = await startScan(api, asOf);
  if (res.statusCode !== 202) throw new Error(`scan ${asOf}: ${res.statusCode} ${res.body}`);
  return untilScanEnded(api, res.json().id);
}

export async function untilScanEnded(api: NestFastifyApplication, id: string, timeoutMs = 60_000) {
  const view = await eventually(
    async () => {
      const v = await getScan(api, id);
      return v.status === 'COMPLETED' || v.status === 'FAILED' ? v : undefined;
    },
    timeoutMs,
    50,
  );
  if (view.status !== 'COMPLETED') throw new Error(`scan ${id} ${view.status}: ${view.failureReason}`);
  return view;
}
