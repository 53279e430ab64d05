import { decidedBeforeCreation, parseDecision, parseRfc3339, sameDecision } from '../../src/modules/decisions/decision-input';

describe('decision input', () => {
  const now = new Date('2026-11-22T08:00:00Z');

  it('accepts RFC 3339 with an offset and normalises decidedAt to UTC', () => {
    const parsed = parseDecision(
      { decision: 'APPROVED', decidedAt: '2026-11-22T10:00:00+02:00', creditLimit: '15000.00', cardLast4: '0042' },
      false,
      now,
    );
    expect(parsed).toEqual({
      ok: true,
      referralId: undefined,
      decision: { decision: 'APPROVED', decidedAt: '2026-11-22T08:00:00.000Z', creditLimit: '15000.00', cardLast4: '0042' },
    });
  });

  it.each(['2026-02-30T00:00:00Z', '2026-11-22T24:00:00Z', '2026-11-22T08:00:00', '2026-11-22', 'yesterday', '2026-11-22T08:00:00+25:00'])(
    'refuses %s',
    (value) => {
      expect(parseRfc3339(value)).toBeUndefined();
    },
  );

  it('allows decidedAt up to 5 minutes ahead, not more', () => {
    expect(parseDecision({ decision: 'PENDING_REVIEW', decidedAt: '2026-11-22T08:05:00Z' }, false, now).ok).toBe(true);
    const late = parseDecision({ decision: 'PENDING_REVIEW', decidedAt: '2026-11-22T08:05:01Z' }, false, now);
    expect(late).toMatchObject({ ok: false, errors: [{ field: 'decidedAt' }] });
  });

  it('refuses fields that do not go with the decision, and unknown fields', () => {
    const r = parseDecision(
      { decision: 'PENDING_REVIEW', decidedAt: '2026-11-22T08:00:00Z', creditLimit: '1.00', declineReasons: ['X'], extra: 1 },
      false,
      now,
    );
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.field).sort()).toEqual(['creditLimit', 'declineReasons', 'extra']);
  });

  it('needs referralId on bulk lines only', () => {
    expect(parseDecision({ decision: 'APPROVED', decidedAt: '2026-11-22T08:00:00Z' }, true, now)).toMatchObject({
      ok: false,
      errors: [{ field: 'referralId' }],
    });
    expect(parseDecision({ referralId: 'ref_1', decision: 'APPROVED', decidedAt: '2026-11-22T08:00:00Z' }, false, now)).toMatchObject({
      ok: false,
      errors: [{ field: 'referralId' }],
    });
  });

  it('compares decidedAt with createdAt to the second', () => {
    const d = { decision: 'APPROVED' as const, decidedAt: '2026-11-22T08:00:00.000Z' };
    expect(decidedBeforeCreation(d, new Date('2026-11-22T08:00:00.900Z'))).toBe(false);
    expect(decidedBeforeCreation(d, new Date('2026-11-22T08:00:01.000Z'))).toBe(true);
  });

  it('treats a restamped repeat as the same decision, different terms as another', () => {
    const a = { decision: 'DECLINED' as const, decidedAt: '2026-11-22T08:00:00.000Z', declineReasons: ['A', 'B'] };
    expect(sameDecision(a, { ...a, decidedAt: '2026-11-22T09:00:00.000Z', declineReasons: ['B', 'A'] })).toBe(true);
    expect(sameDecision(a, { ...a, declineReasons: ['A'] })).toBe(false);
    expect(sameDecision(a, { decision: 'APPROVED', decidedAt: a.decidedAt })).toBe(false);
  });
});
