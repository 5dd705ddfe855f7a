// A Map that holds at most `capacity` entries, forgetting the least recently used one first. For
// caches keyed by what callers choose (subscription ids a tag names, registry references): they must
// not grow without bound, while the entries in use stay. Pure.

/** The bound of every per-subscription cache (SDK clients, pacing buckets, registry lookups). */
export const PER_SUBSCRIPTION_LIMIT = 1000;

export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number = PER_SUBSCRIPTION_LIMIT) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key) as V;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Sets the value (the most recently used); forgets the least recently used past the capacity. */
  set(key: K, value: V): this {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as K);
    return this;
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** Entries from the least to the most recently used, without touching their order. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries[Symbol.iterator]();
  }
}
