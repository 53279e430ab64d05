import { CreditRecordLine } from '../ingest/credit-record-line';

/**
 * Seeded synthetic credit records for the demo, the tests and the benchmark. Every user is derived from
 * (seed, index) alone, so the same seed always gives the same users, any slice (startIndex) can be generated on
 * its own, and parallel generators agree. The numbers are shaped like a consumer-credit book: a bell-shaped score,
 * a risk grade that follows the score, overdue history and current delinquency more likely for low scores,
 * consumption with long tails. Identities are fake but well-formed (18-character national ids with a valid check
 * character, +86 mobile numbers).
 */
export interface SyntheticOptions {
  users: number;
  seed: number | string;
  /** The snapshot date of every record (default 2026-11-20). */
  asOf?: string;
  /** Index of the first user (default 0), for generating a slice. */
  startIndex?: number;
  /** User id prefix (default "u_"); tests use a random one to stay apart from other tests' users. */
  userIdPrefix?: string;
  /** Digits of the zero-padded index in the user id (default 9: fixed width keeps lexical order = index order). */
  idWidth?: number;
}

export const DEFAULT_SYNTHETIC_AS_OF = '2026-11-20';

export const RISK_GRADE_BANDS: readonly { minScore: number; grade: string }[] = [
  { minScore: 750, grade: 'A+' },
  { minScore: 700, grade: 'A' },
  { minScore: 650, grade: 'B' },
  { minScore: 600, grade: 'C' },
  { minScore: 550, grade: 'D' },
  { minScore: 0, grade: 'E' },
];

export const riskGradeOf = (score: number) => RISK_GRADE_BANDS.find((b) => score >= b.minScore)!.grade;

export const syntheticUserId = (index: number, prefix = 'u_', width = 9) => `${prefix}${String(index).padStart(width, '0')}`;

/** The users of `options`, one record at a time (constant memory for any N). */
export function* syntheticCreditRecords(options: SyntheticOptions): Generator<CreditRecordLine> {
  const start = options.startIndex ?? 0;
  for (let i = start; i < start + options.users; i++) yield syntheticCreditRecord(options, i);
}

/** The same as NDJSON lines (no trailing newline). */
export function* syntheticNdjson(options: SyntheticOptions): Generator<string> {
  for (const record of syntheticCreditRecords(options)) yield JSON.stringify(record);
}

/** User `index` of `options.seed`. */
export function syntheticCreditRecord(options: Omit<SyntheticOptions, 'users'>, index: number): CreditRecordLine {
  const asOf = options.asOf ?? DEFAULT_SYNTHETIC_AS_OF;
  const r = new Random(mix(seedNumber(options.seed), index));

  const score = clamp(Math.round(650 + 75 * r.normal()), 350, 950);
  const ageMonths = r.int(1, 120);
  const accountOpenedAt = addDays(addMonths(asOf, -ageMonths), -r.int(0, 27));

  // Repayment: the monthly chance of a late payment falls steeply with the score.
  const activeMonths = Math.min(24, ageMonths);
  const lateChance = 0.25 * Math.exp(-(score - 350) / 120);
  let overdueCount24m = 0;
  for (let m = 0; m < activeMonths; m++) if (r.next() < lateChance) overdueCount24m++;
  const onTimeCount24m = activeMonths - overdueCount24m;
  let maxDpd24m = overdueCount24m ? Math.min(180, 1 + Math.floor(r.exponential(8 + Math.max(0, 700 - score) / 8))) : 0;
  const currentlyOverdue = r.next() < Math.min(0.5, lateChance * 1.2);
  const currentDpd = currentlyOverdue ? Math.min(200, 1 + Math.floor(r.exponential(20))) : 0;
  if (currentDpd) {
    overdueCount24m = Math.max(1, overdueCount24m);
    maxDpd24m = Math.max(maxDpd24m, currentDpd);
  }

  const limitCents = clamp(Math.round(Math.exp(r.normal(Math.log(2000 + (score - 350) * 40), 0.4)) / 100) * 10_000, 50_000, 10_000_000);
  const balanceCents = Math.round(limitCents * Math.pow(r.next(), 1.5) * (currentDpd ? 1 : 0.9));
  const overdueCents = currentDpd ? Math.max(1, Math.round(balanceCents * (0.05 + 0.35 * r.next()))) : 0;

  const orders12m = clamp(Math.round(Math.exp(r.normal(3.3, 0.9))), 0, 2000);
  const gmvCents = orders12m ? Math.round(orders12m * Math.exp(r.normal(5, 0.5)) * 100) : 0;
  const returnRate12m = orders12m ? round(Math.min(1, 0.3 * Math.pow(r.next(), 2)), 4) : 0;
  const avgReviewScore = orders12m ? round(clamp(4.6 + 0.3 * r.normal(), 1, 5), 2) : 0;
  const topCategories = r.sample(CATEGORIES, orders12m ? r.int(1, 3) : 0);

  const deviceRoll = r.next();
  const accountsOnDevice = deviceRoll < 0.9 ? 1 : deviceRoll < 0.98 ? 2 : r.int(3, 6);
  const kycRoll = r.next();

  return {
    userId: syntheticUserId(index, options.userIdPrefix, options.idWidth),
    asOf,
    identity: {
      name: `${r.pick(SURNAMES)}${r.pick(GIVEN)}${r.next() < 0.6 ? r.pick(GIVEN) : ''}`,
      nationalId: nationalId(seedNumber(options.seed), index, asOf),
      phone: `+86${r.pick(MOBILE_PREFIXES)}${String(r.int(0, 99_999_999)).padStart(8, '0')}`,
      kycLevel: kycRoll < 0.6 ? 3 : kycRoll < 0.9 ? 2 : 1,
    },
    score,
    riskGrade: riskGradeOf(score),
    creditLimit: money(limitCents),
    balance: money(balanceCents),
    accountOpenedAt,
    repayment: { onTimeCount24m, overdueCount24m, maxDpd24m, currentDpd, overdueAmount: money(overdueCents) },
    consumption: {
      orders12m,
      gmv12m: money(gmvCents),
      returnRate12m,
      avgReviewScore,
      topCategories,
      addressStable12m: r.next() < 0.75 + (score - 350) / 2400,
    },
    device: { accountsOnDevice },
  };
}

const CATEGORIES = ['3C', 'grocery', 'apparel', 'beauty', 'home', 'baby', 'sports', 'books', 'pets', 'auto'];
const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '马', '朱', '胡', '郭', '何', '林', '高', '罗'];
const GIVEN = [
  '伟',
  '芳',
  '娜',
  '敏',
  '静',
  '丽',
  '强',
  '磊',
  '军',
  '洋',
  '勇',
  '艳',
  '杰',
  '娟',
  '涛',
  '明',
  '超',
  '秀',
  '霞',
  '平',
  '刚',
  '桂',
  '文',
  '华',
];
const MOBILE_PREFIXES = [
  '130',
  '131',
  '132',
  '135',
  '136',
  '138',
  '139',
  '150',
  '151',
  '158',
  '159',
  '166',
  '176',
  '177',
  '180',
  '186',
  '187',
  '188',
  '199',
];
const REGIONS = ['110101', '310104', '440106', '440305', '330106', '320102', '510107', '420106', '610113', '500103'];
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

const BIRTH_DAYS = 52 * 365; // birth dates 18 to 70 years before asOf
const ID_SPACE = BigInt(REGIONS.length * BIRTH_DAYS * 1000);
const ID_SCRAMBLE = 2_654_435_761n; // prime, coprime with ID_SPACE: index -> slot is a bijection

/**
 * A GB 11643 style id: region, birth date (18–70 years before asOf), sequence, ISO 7064 check character.
 * A national id belongs to one person, so within one seed no two users share one: the user's index is mapped
 * one-to-one onto (region, birth date, sequence) by a scrambling bijection (the seed shifts it), which keeps the
 * spread random-looking. Unique for the first 189.8 million users of a seed.
 */
function nationalId(seed: number, index: number, asOf: string): string {
  let slot = Number((BigInt(index) * ID_SCRAMBLE + BigInt(seed >>> 0)) % ID_SPACE);
  const sequence = slot % 1000;
  slot = Math.floor(slot / 1000);
  const day = slot % BIRTH_DAYS;
  const region = REGIONS[Math.floor(slot / BIRTH_DAYS)];
  const birth = addDays(addMonths(asOf, -12 * 18), -day).replace(/-/g, '');
  const body = `${region}${birth}${String(sequence).padStart(3, '0')}`;
  const sum = [...body].reduce((s, d, i) => s + Number(d) * ID_WEIGHTS[i], 0);
  return body + ID_CHECK[sum % 11];
}

/** Cents to the API's two-place decimal string, without passing through a float. */
const money = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const round = (v: number, places: number) => Math.round(v * 10 ** places) / 10 ** places;

function addMonths(date: string, months: number): string {
  const [y, m, d] = date.split('-').map(Number);
  const target = new Date(Date.UTC(y, m - 1 + months, 1));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d, lastDay));
  return target.toISOString().slice(0, 10);
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** FNV-1a of a string seed; numbers are used as they are. */
function seedNumber(seed: number | string): number {
  if (typeof seed === 'number') return seed >>> 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A well-spread 32-bit state from (seed, index) (murmur3's finaliser). */
function mix(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index, 0x9e3779b1) ^ Math.floor(index / 0x1_0000_0000)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** mulberry32: small, fast, and good enough for test data (not for anything secret). */
class Random {
  constructor(private state: number) {}

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  normal(mean = 0, sd = 1): number {
    const u = 1 - this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  sample<T>(items: readonly T[], n: number): T[] {
    const pool = [...items];
    const out: T[] = [];
    while (out.length < n && pool.length) out.push(pool.splice(Math.floor(this.next() * pool.length), 1)[0]);
    return out;
  }
}
