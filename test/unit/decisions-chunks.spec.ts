import { chunksKeepingKeys } from '../../src/modules/decisions/decision-recorder';

describe('chunksKeepingKeys', () => {
  const lines = (keys: string[]) => keys.map((key, line) => ({ key, line }));
  const keysOf = (chunks: { key: string }[][]) => chunks.map((c) => c.map((l) => l.key).join(''));

  it('cuts every `size` lines when no key repeats', () => {
    expect(keysOf(chunksKeepingKeys(lines(['a', 'b', 'c', 'd', 'e']), 2))).toEqual(['ab', 'cd', 'e']);
  });

  it('never splits one key between chunks, and keeps its lines in their order', () => {
    const chunks = chunksKeepingKeys(lines(['a', 'b', 'b', 'c', 'c', 'c', 'd']), 2);
    expect(keysOf(chunks)).toEqual(['a', 'bb', 'ccc', 'd']);
    expect(chunks[2].map((l) => l.line)).toEqual([3, 4, 5]);
  });

  it('fills a chunk up to its size with whole keys and gives nothing for no lines', () => {
    expect(keysOf(chunksKeepingKeys(lines(['a', 'a', 'b', 'c', 'c']), 3))).toEqual(['aab', 'cc']);
    expect(chunksKeepingKeys([], 3)).toEqual([]);
  });
});
