/**
 * Values a node reads from the database and answers from its own copy for a short while
 * (`keepMs`): for data read on a hot path that changes rarely, where a change may take that
 * long to reach every node. The caller gives the time (`now`, in ms), on the clock that suits
 * it. Beyond `maxEntries` copies, all are dropped and read again (never an unbounded map).
 */
export class KeptCopies<V> {
  private readonly copies = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly keepMs: number,
    private readonly maxEntries: number,
  ) {}

  /**
   * The copy of `key` while it holds; otherwise `load()`, kept from `now` on when `keep` says so
   * (a value it refuses, or any value when `keepMs` is 0, is read again next time).
   */
  async get(key: string, now: number, load: () => Promise<V>, keep: (value: V) => boolean = () => true): Promise<V> {
    const copy = this.copies.get(key);
    if (copy && copy.until > now) return copy.value;
    const value = await load();
    if (this.keepMs <= 0 || !keep(value)) {
      this.copies.delete(key);
      return value;
    }
    if (this.copies.size >= this.maxEntries) this.copies.clear();
    this.copies.set(key, { value, until: now + this.keepMs });
    return value;
  }
}
