import { randomBytes } from 'node:crypto';

import { acceptLegacyPublicIds, configurePublicIds, keyOf, openCursorKey, sealCursorKey, toPublicId } from '../../src/common/public-id';
import { configurePublicIdsWith } from '../../src/infra/crypto/crypto.service';

/** The codec on its own: shape, round trip, tamper checks, prefixes, legacy ceilings and cursors. */
describe('public ids', () => {
  afterEach(() => acceptLegacyPublicIds({}));

  it('round-trips keys from 1 to the largest BIGINT, each as prefix, generation 1 and 26 base32 characters', () => {
    for (const key of ['1', '2', '3', '42', '4294967296', '9007199254740993', '9223372036854775807']) {
      const id = toPublicId('ref', key);
      expect(id).toMatch(/^ref_1[a-z2-7]{25}[aeimquy4]$/);
      expect(keyOf('ref', id)).toBe(key);
    }
  });

  it('gives consecutive keys unrelated ids', () => {
    const ids = Array.from({ length: 50 }, (_, i) => toPublicId('ofr', i + 1));
    expect(new Set(ids).size).toBe(50);
    expect([...ids].sort()).not.toEqual(ids);
  });

  it('refuses keys that are no row keys', () => {
    for (const key of [0, -1, '18446744073709551615']) expect(() => toPublicId('ref', key)).toThrow(RangeError);
  });

  it("refuses an altered id, another prefix's id, and anything not made here", () => {
    const id = toPublicId('ref', 77);
    const body = id.slice(5);
    for (let i = 0; i < body.length - 1; i++) {
      const altered = `ref_1${body.slice(0, i)}${body[i] === 'q' ? 'r' : 'q'}${body.slice(i + 1)}`;
      expect(keyOf('ref', altered)).toBeUndefined();
    }
    expect(keyOf('cns', `cns_${id.slice(4)}`)).toBeUndefined();
    expect(keyOf('ref', toPublicId('cns', 77).replace(/^cns_/, 'ref_'))).toBeUndefined();
    for (const junk of ['', 'ref_', 'ref_1', 'ref_abc', id.toUpperCase(), `${id}a`, id.slice(0, -1), `ref_2${body}`, 'ref_0']) {
      expect(keyOf('ref', junk)).toBeUndefined();
    }
  });

  it('resolves a numeric id only up to the legacy ceiling of its prefix', () => {
    expect(keyOf('ref', 'ref_5')).toBeUndefined();
    acceptLegacyPublicIds({ ref: '10' });
    expect(keyOf('ref', 'ref_5')).toBe('5');
    expect(keyOf('ref', 'ref_10')).toBe('10');
    expect(keyOf('ref', 'ref_11')).toBeUndefined();
    expect(keyOf('ref', 'ref_05')).toBeUndefined();
    expect(keyOf('cns', 'cns_5')).toBeUndefined();
  });

  it('seals cursors so that they neither show nor take a key', () => {
    const cursor = sealCursorKey('123456');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(cursor, 'base64url').toString('latin1')).not.toContain('123456');
    expect(openCursorKey(cursor)).toBe('123456');
    const raw = Buffer.from(cursor, 'base64url');
    raw[raw.length - 1] ^= 1;
    expect(openCursorKey(raw.toString('base64url'))).toBeUndefined();
    expect(openCursorKey(Buffer.from(JSON.stringify({ v: 1, after: '5' })).toString('base64url'))).toBeUndefined();
  });

  it('changes every id with the key, and refuses to work before it has one', () => {
    const id = toPublicId('ref', 9);
    configurePublicIds(randomBytes(32));
    try {
      expect(toPublicId('ref', 9)).not.toBe(id);
      expect(keyOf('ref', id)).toBeUndefined();
    } finally {
      configurePublicIdsWith(process.env.MASTER_KEY!); // the run's key again
    }
    expect(toPublicId('ref', 9)).toBe(id);
    jest.isolateModules(() => {
      const fresh = jest.requireActual<typeof import('../../src/common/public-id')>('../../src/common/public-id');
      expect(() => fresh.toPublicId('ref', 1)).toThrow(/not configured/);
      expect(() => fresh.keyOf('ref', id)).toThrow(/not configured/);
    });
  });
});
