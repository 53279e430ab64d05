import { AuditEvent, canonicalJson, GENESIS_HASH, hashEntry } from '../../src/modules/audit/audit-entry';

const base: Omit<AuditEvent, 'hash'> = {
  seq: 7,
  occurredAt: new Date('2026-11-22T08:00:00.123Z'),
  actorType: 'partner',
  actorId: 'XB',
  action: 'partner_api.call',
  resourceType: 'route',
  resourceId: 'GET /partner/v1/referrals',
  subjectUserHash: null,
  partnerCode: 'XB',
  requestId: 'req-1',
  clientIp: '10.0.0.1',
  outcome: 'SUCCESS',
  httpStatus: 200,
  details: canonicalJson({ params: { id: 'ref_1' } }),
  prevHash: GENESIS_HASH,
};

describe('audit entry encoding', () => {
  it('canonical JSON does not depend on key order and drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[2,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });

  it('hashes deterministically to SHA-256 hex', () => {
    expect(hashEntry(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashEntry({ ...base })).toBe(hashEntry(base));
  });

  it('changes when any field or the previous hash changes', () => {
    const variants: Partial<Omit<AuditEvent, 'hash'>>[] = [
      { seq: 8 },
      { occurredAt: new Date('2026-11-22T08:00:00.124Z') },
      { actorType: 'admin' },
      { actorId: 'XC' },
      { action: 'partner_api.denied' },
      { resourceType: null },
      { resourceId: 'GET /partner/v1/events' },
      { subjectUserHash: 'a'.repeat(64) },
      { partnerCode: null },
      { requestId: 'req-2' },
      { clientIp: '10.0.0.2' },
      { outcome: 'DENIED' },
      { httpStatus: 403 },
      { details: null },
      { prevHash: 'f'.repeat(64) },
    ];
    const hashes = new Set([hashEntry(base), ...variants.map((v) => hashEntry({ ...base, ...v }))]);
    expect(hashes.size).toBe(variants.length + 1);
  });

  it('cannot be fooled by moving text between adjacent fields', () => {
    expect(hashEntry({ ...base, resourceType: 'ab', resourceId: 'c' })).not.toBe(
      hashEntry({ ...base, resourceType: 'a', resourceId: 'bc' }),
    );
  });
});
