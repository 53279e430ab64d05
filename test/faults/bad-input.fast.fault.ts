import fc from 'fast-check';

import { platformToken } from '../support/partner-client';
import { creditRecordLine, userIds } from '../support/referral-flow';
import { Gateway, runStore, Store } from './support/gateway';
import { nastyNumber, nastyText, nastyValue, withOneMemberReplaced } from './support/hostile-json';
import { send } from './support/http';
import { OwnedProcess } from './support/processes';
import { Cohort, complianceHeaders, onboard } from './support/scenario';

/**
 * Hostile input, property-based, against an api process over real sockets: numbers JSON can write but doubles
 * cannot hold (1e309, integers past 2^53, negative zero), NUL, right-to-left overrides, emoji and lone surrogates,
 * deep nesting and huge strings, in every member of partner and platform bodies and in query strings. Whatever comes,
 * the answer is never a 500 and never a hang; a value that is accepted is stored exactly.
 */
jest.setTimeout(300_000);

describe('hostile input', () => {
  let store: Store;
  let api: Gateway;
  let cohort: Cohort;
  let partnerToken: string;
  const platform = () => ({ authorization: `Bearer ${platformToken(['platform'])}`, 'content-type': 'application/json' });

  beforeAll(async () => {
    store = runStore();
    [api] = await Promise.all([Gateway.start('api', store), Gateway.start('worker', store)]);
    cohort = await onboard(api.baseUrl, 1);
    partnerToken = await cohort.bank.token();
  });

  afterAll(async () => {
    await OwnedProcess.killAll();
    await store.db.end();
  });

  const noServerFault = async (method: string, path: string, headers: Record<string, string>, body?: string) => {
    const res = await send(api.baseUrl, method, path, { headers, body, timeoutMs: 20_000 });
    if (res.status >= 500)
      throw new Error(`${method} ${path} answered ${res.status}: ${res.body.slice(0, 300)} for ${body?.slice(0, 200)}`);
    return res;
  };

  it('partner decisions: never a 500, never a hang', async () => {
    const valid = { decision: 'APPROVED', decidedAt: new Date().toISOString(), creditLimit: '15000.00', cardLast4: '1234' };
    const headers = { authorization: `Bearer ${partnerToken}`, 'content-type': 'application/json' };
    await fc.assert(
      fc.asyncProperty(fc.oneof(withOneMemberReplaced(valid), nastyValue), async (body) => {
        await noServerFault('POST', `/partner/v1/referrals/${cohort.referrals[0]}/decision`, headers, body);
      }),
      { numRuns: 60 },
    );
  });

  it('partner queries: hostile limit, cursor and status values are refused, not failed on', async () => {
    const headers = { authorization: `Bearer ${partnerToken}` };
    const queryValue = fc.oneof(
      nastyNumber,
      nastyText.filter((s) => s.length < 5000),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('limit', 'cursor', 'status'), queryValue, async (name, value) => {
        await noServerFault('GET', `/partner/v1/referrals?${name}=${encodeURIComponent(value)}`, headers);
      }),
      { numRuns: 60 },
    );
  });

  it('platform credit records: never a 500; an accepted name is stored exactly as sent', async () => {
    await fc.assert(
      fc.asyncProperty(withOneMemberReplaced(creditRecordLine('placeholder')), async (line) => {
        const [user] = userIds(1);
        const body = `[${line.replace('"placeholder"', JSON.stringify(user))}]`;
        await noServerFault('POST', '/v1/platform/credit-records', platform(), body);
      }),
      { numRuns: 60 },
    );
    const names = fc.oneof(
      fc.constantFrom('a\u0000b', '\u202Eevil\u202C', 'مرحبا بك', '😀👨‍👩‍👧 Zoë', '\uFEFFname'),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }),
    );
    await fc.assert(
      fc.asyncProperty(names, async (name) => {
        const [user] = userIds(1);
        const line = creditRecordLine(user);
        line.identity.name = name;
        const res = await noServerFault('POST', '/v1/platform/credit-records', platform(), JSON.stringify([line]));
        if (res.status !== 200 || res.json().accepted !== 1) return;
        const timeline = await noServerFault('GET', `/v1/compliance/users/${encodeURIComponent(user)}/timeline`, complianceHeaders());
        expect(timeline.json().user.name).toBe(name);
      }),
      { numRuns: 40 },
    );
  });
});
