import { LruMap } from '../../../src/core/lru';

describe('a bounded map', () => {
  it('forgets the least recently used entry past its capacity; a read counts as a use', () => {
    const map = new LruMap<string, number>(3);
    map.set('a', 1).set('b', 2).set('c', 3);
    expect(map.get('a')).toBe(1); // a is now the most recently used
    map.set('d', 4);

    expect([...map].map(([k]) => k)).toEqual(['c', 'a', 'd']);
    expect(map.has('b')).toBe(false);
    expect(map.size).toBe(3);
  });

  it('replaces a value without growing, and deletes', () => {
    const map = new LruMap<string, number>(2);
    map.set('a', 1).set('a', 2);
    expect([map.get('a'), map.size]).toEqual([2, 1]);
    expect(map.delete('a')).toBe(true);
    expect(map.get('a')).toBeUndefined();
  });

  it('holds 1000 by default, whatever is put in it', () => {
    const map = new LruMap<number, number>();
    for (let i = 0; i < 5000; i++) map.set(i, i);
    expect(map.size).toBe(1000);
    expect([map.get(4000), map.get(4999), map.get(3999)]).toEqual([4000, 4999, undefined]);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new LruMap(0)).toThrow(RangeError);
  });
});
