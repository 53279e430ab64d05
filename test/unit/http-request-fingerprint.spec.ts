import { canonicalJson, requestFingerprint } from '../../src/infra/http/idempotency/request-fingerprint';

describe('canonicalJson', () => {
  it('sorts members at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('drops undefined members as JSON does', () => {
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
  });
});

describe('requestFingerprint', () => {
  const fp = (body: unknown, method = 'POST', url = '/v1/x') => requestFingerprint(method, url, body);

  it('is the same for the same request whatever the member order', () => {
    expect(fp({ a: 1, b: [1, 2] })).toBe(fp({ b: [1, 2], a: 1 }));
  });

  it('differs when the body, the method or the path differ', () => {
    const base = fp({ a: 1 });
    expect(fp({ a: 2 })).not.toBe(base);
    expect(fp({ a: [1] })).not.toBe(fp({ a: 1 }));
    expect(fp({ a: 1 }, 'PUT')).not.toBe(base);
    expect(fp({ a: 1 }, 'POST', '/v1/y')).not.toBe(base);
    expect(fp({ a: 1 }, 'POST', '/v1/x?dryRun=true')).not.toBe(base);
  });

  it('tells raw text from a JSON string and an empty body from an empty object', () => {
    expect(fp('{"a":1}')).not.toBe(fp({ a: 1 }));
    expect(fp(undefined)).not.toBe(fp({}));
    expect(fp('{"a":1}\n{"a":2}\n')).toBe(fp('{"a":1}\n{"a":2}\n'));
    expect(fp('{"a":1}\n{"a":2}\n')).not.toBe(fp('{"a":2}\n{"a":1}\n'));
  });
});
