import fc from 'fast-check';

/**
 * Hostile JSON for the fault suite's property-based cases: numbers JSON can write but doubles cannot hold (1e309,
 * integers past 2^53, negative zero, 400-digit integers), NUL, right-to-left overrides, emoji and lone surrogates,
 * deep nesting and huge strings. Values are JSON text, not JavaScript values: `1e309` and `-0` exist only as text.
 */
export const nastyNumber = fc.constantFrom(
  '1e309',
  '-1e309',
  '9007199254740993',
  '-9007199254740993',
  '-0',
  '0.1e-400',
  `1${'0'.repeat(400)}`,
  '1.5',
);
export const nastyText = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\u202Eevil\u202C', 'مرحبا', '😀👨‍👩‍👧', '\uFEFF', '', ' '),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 100_000, max: 600_000 }).map((n) => 'x'.repeat(n)),
);
/** A JSON string literal; lone surrogates escaped as JSON allows. */
const literal = (s: string) => JSON.stringify(s).replace(/[\uD800-\uDFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
const deep = fc.integer({ min: 50, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);
const deepObject = fc.integer({ min: 50, max: 5_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
const scalar = fc.oneof(nastyNumber, nastyText.map(literal), fc.constantFrom('null', 'true', '[]', '{}', '"\\ud800"'));
export const nastyValue = fc.oneof({ weight: 6, arbitrary: scalar }, { weight: 1, arbitrary: deep }, { weight: 1, arbitrary: deepObject });

/** A valid body (as JSON text) with one member, at any depth, replaced by a hostile value. */
export function withOneMemberReplaced(valid: Record<string, unknown>): fc.Arbitrary<string> {
  const paths: string[][] = [];
  const walk = (node: unknown, path: string[]) => {
    if (path.length) paths.push(path);
    if (node && typeof node === 'object' && !Array.isArray(node)) for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
  };
  walk(valid, []);
  return fc.tuple(fc.constantFrom(...paths), nastyValue).map(([path, value]) => {
    const marker = '__FAULT_VALUE__';
    const copy = structuredClone(valid);
    let node = copy as Record<string, unknown>;
    for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
    node[path[path.length - 1]] = marker;
    return JSON.stringify(copy).replace(`"${marker}"`, () => value);
  });
}
