import { FastifyReply, FastifyRequest } from 'fastify';

import { AppConfigService } from '../../src/infra/config/app-config';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { AuditEntryInput } from '../../src/modules/audit/audit-entry';
import { PartnerCallAudit, PartnerCallRecord } from '../../src/modules/auth/partner-call.audit';

/** The onSend hook skips a call only when the handler committed its entry for exactly the status that leaves. */
describe('PartnerCallAudit and PartnerCallRecord', () => {
  const request = (id: string) =>
    ({
      id,
      url: '/partner/v1/referrals/ref_1',
      method: 'GET',
      ip: '10.0.0.1',
      params: { id: 'ref_1' },
      routeOptions: { url: '/partner/v1/referrals/:id' },
      principal: { type: 'partner', id: 'BANK', partnerId: '7' },
    }) as unknown as FastifyRequest;
  const reply = (statusCode: number) => ({ statusCode }) as FastifyReply;
  const setup = () => {
    const appended: AuditEntryInput[] = [];
    const writer = { append: async (e: AuditEntryInput) => void appended.push(e) } as unknown as AuditWriter;
    const config = { values: { http: { anonymousRateLimit: { limit: 60, windowSeconds: 60 } } } } as AppConfigService;
    return { appended, hook: new PartnerCallAudit(writer, config) };
  };

  it('builds the same entry the hook writes, and the hook skips it once committed for that status', async () => {
    const { appended, hook } = setup();
    const req = request('r1');
    const call = new PartnerCallRecord(req);
    await hook.onSend(req, reply(200), 'body');
    expect(appended).toEqual([call.entry(200)]);
    expect(call.entry(200)).toMatchObject({
      action: 'partner_api.call',
      resourceId: 'GET /partner/v1/referrals/:id',
      httpStatus: 200,
      outcome: 'SUCCESS',
      requestId: 'r1',
      actorId: 'BANK',
      details: { params: { id: 'ref_1' } },
    });
    const req2 = request('r2');
    new PartnerCallRecord(req2).committed(200);
    expect(await hook.onSend(req2, reply(200), 'body')).toBe('body');
    expect(appended).toHaveLength(1);
  });

  it('records an answer whose status changed after its call entry was committed, without a second call entry', async () => {
    const { appended, hook } = setup();
    const req = request('r3');
    const call = new PartnerCallRecord(req);
    // As the disclosure batch does: the 200's call entry commits with the disclosure, then the answer fails.
    appended.push(call.entry(200));
    call.committed(200);
    await hook.onSend(req, reply(500), 'oops');
    expect(appended.filter((e) => e.action === 'partner_api.call')).toHaveLength(1);
    expect(appended.map((e) => [e.action, e.requestId, e.httpStatus, e.outcome])).toEqual([
      ['partner_api.call', 'r3', 200, 'SUCCESS'],
      ['partner_api.answer_changed', 'r3', 500, 'FAILURE'],
    ]);
    expect(appended[1]).toMatchObject({
      resourceId: 'GET /partner/v1/referrals/:id',
      details: { params: { id: 'ref_1' }, recordedStatus: 200 },
    });
  });
});
