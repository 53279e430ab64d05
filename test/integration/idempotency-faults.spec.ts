import { randomUUID } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { seedDeliveredReferrals } from '../../src/modules/decisions/decisions.bench';
import { dataSourceOf, startHttpApp } from '../support/app';
import { BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { createProduct, registerPartner } from '../support/referral-flow';

/**
 * Idempotency-Key when storing the answer fails or cannot be done: the request's effect committed, so the same key
 * must never run it again. A real fault is injected with a trigger that refuses to store answers of keys named
 * `store-fails-…` (only those: the database is shared with the run's other specs); an answer over the configured
 * bound is a real one.
 */
jest.setTimeout(120_000);

const typeOf = (code: string) => `https://errors.referral-gateway.dev/${code}`;
const TRIGGER = 'idempotency_store_fails_test';

describe('Idempotency-Key faults', () => {
  let api: NestFastifyApplication;
  let db: DataSource;

  beforeAll(async () => {
    api = await startHttpApp('api', { IDEMPOTENCY_MAX_ANSWER_BYTES: '2048' });
    db = dataSourceOf(api);
    await db.query(`DROP TRIGGER IF EXISTS ${TRIGGER}`);
    await db.query(`
      CREATE TRIGGER ${TRIGGER} BEFORE UPDATE ON idempotency_keys FOR EACH ROW
      BEGIN
        IF NEW.idempotency_key LIKE 'store-fails-%' AND NEW.state = 'COMPLETED' THEN
          SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'test: the answer store fails';
        END IF;
      END`);
  });

  afterAll(async () => {
    await db?.query(`DROP TRIGGER IF EXISTS ${TRIGGER}`);
    await api?.close();
  });

  const rotations = async (operator: string) => {
    const [row] = await db.query(
      `SELECT (SELECT COUNT(*) FROM audit_inbox WHERE action = 'signing_key.rotated' AND actor_id = ?)
            + (SELECT COUNT(*) FROM audit_events WHERE action = 'signing_key.rotated' AND actor_id = ?) AS n`,
      [operator, operator],
    );
    return Number(row.n);
  };

  it('a rotation whose answer could not be stored is never run again, not even once its claim looks abandoned', async () => {
    const operator = `op-${randomUUID().slice(0, 8)}`;
    const token = platformToken(['admin'], operator);
    const key = `store-fails-${randomUUID()}`;
    const rotate = () =>
      inject(api, {
        method: 'POST',
        url: '/v1/admin/signing-keys/rotate',
        headers: { authorization: `Bearer ${token}`, 'idempotency-key': key },
      });

    const first = await rotate();
    expect(first.statusCode).toBe(201);
    expect(await rotations(operator)).toBe(1);

    const soon = await rotate();
    expect(soon.statusCode).toBe(409);
    expect(soon.json().type).toBe(typeOf('idempotency-key-answer-not-kept'));

    // Past the abandonment delay (10 minutes) a claim whose effect never committed is freed; this one committed.
    await db.query('UPDATE idempotency_keys SET created_at = NOW(3) - INTERVAL 11 MINUTE WHERE idempotency_key = ?', [key]);
    const later = await rotate();
    expect(later.statusCode).toBe(409);
    expect(later.json().type).toBe(typeOf('idempotency-key-answer-not-kept'));
    expect(await rotations(operator)).toBe(1);
  });

  it('an answer over IDEMPOTENCY_MAX_ANSWER_BYTES is sent, not kept, and the same key never decides again', async () => {
    const bank = new BankClient(uniqueCode('IK'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    const productCode = await createProduct(api, bank.code, ['applicant.name']);
    const refs = await seedDeliveredReferrals(db, { partnerCode: bank.code, productCode, count: 30, userIdPrefix: `${bank.code}_` });
    const token = await bank.accessToken(api);
    const body = refs.map((referralId) => JSON.stringify({ referralId, decision: 'PENDING_REVIEW', decidedAt: new Date().toISOString() }));
    const key = `big-${randomUUID()}`;
    const send = () =>
      inject(api, {
        method: 'POST',
        url: '/partner/v1/decisions',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson', 'idempotency-key': key },
        payload: body.join('\n'),
      });

    const first = await send();
    expect(first.statusCode).toBe(200);
    expect(first.body.length).toBeGreaterThan(2048);
    expect(first.json().results.every((r: { status: number }) => r.status === 200)).toBe(true);
    const [row] = await db.query('SELECT state, response_body FROM idempotency_keys WHERE idempotency_key = ?', [key]);
    expect(row).toEqual({ state: 'ANSWER_NOT_KEPT', response_body: null });

    const again = await send();
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ type: typeOf('idempotency-key-answer-not-kept'), status: 409 });
    const [moves] = await db.query(
      "SELECT COUNT(*) AS n FROM referral_timeline WHERE referral_id IN (?) AND to_status = 'PENDING_REVIEW'",
      [refs.map(rowKey)],
    );
    expect(Number(moves.n)).toBe(30);
  });

  it('a small answer is still kept and replayed as it was', async () => {
    const operator = `op-${randomUUID().slice(0, 8)}`;
    const key = `small-${randomUUID()}`;
    const rotate = () =>
      inject(api, {
        method: 'POST',
        url: '/v1/admin/signing-keys/rotate',
        headers: { authorization: `Bearer ${platformToken(['admin'], operator)}`, 'idempotency-key': key },
      });
    const first = await rotate();
    const again = await rotate();
    expect(again.statusCode).toBe(201);
    expect(again.body).toBe(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(await rotations(operator)).toBe(1);
  });
});
