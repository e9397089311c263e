// Keys by the time they fall due, earliest first (a binary min-heap): the incremental plan's
// nodes by their part's due time (plan-incremental.ts), so that a pass finds the nodes whose time
// came without looking at every node. A key may be in it more than once, at times that no longer
// hold: whoever takes a key out checks it against what it keeps (a stale entry costs a check).

export class DueHeap<K> {
  private readonly at: number[] = [];
  private readonly keys: K[] = [];

  get size(): number {
    return this.at.length;
  }

  /** The earliest time in it (Infinity when empty). */
  get next(): number {
    return this.at[0] ?? Infinity;
  }

  push(t: number, key: K): void {
    const { at, keys } = this;
    let i = at.length;
    at.push(t);
    keys.push(key);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (at[up]! <= t) break;
      at[i] = at[up]!;
      keys[i] = keys[up]!;
      i = up;
    }
    at[i] = t;
    keys[i] = key;
  }

  /** Takes out every key due at or before `now`, earliest first. */
  popDue(now: number, into: (key: K, t: number) => void): void {
    while (this.at.length > 0 && this.at[0]! <= now) {
      const t = this.at[0]!;
      into(this.pop()!, t);
    }
  }

  clear(): void {
    this.at.length = 0;
    this.keys.length = 0;
  }

  private pop(): K | undefined {
    const { at, keys } = this;
    const top = keys[0];
    const lastT = at.pop()!;
    const lastK = keys.pop()!;
    const n = at.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && at[l + 1]! < at[l]! ? l + 1 : l;
      if (at[c]! >= lastT) break;
      at[i] = at[c]!;
      keys[i] = keys[c]!;
      i = c;
    }
    at[i] = lastT;
    keys[i] = lastK;
    return top;
  }
}
