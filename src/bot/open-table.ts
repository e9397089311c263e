// The open actions as the notifier keys them: an action's key (`action:<id>@<instance>`, the
// outbox's and the group records'), and the table of open actions by key kept from one listing to
// the next, with which keys each update changed (docs/design/telegram.md).
import type { Action } from '../domain/actions.js';
import { sharedEnds } from '../domain/shared-ends.js';

/** Keys of the actions as read (the store's parsed objects, frozen): one string per object, made once. */
const keys = new WeakMap<object, string>();
export const actionKey = (a: { id: string; instance: string }): string => {
  let key = keys.get(a);
  if (key !== undefined) return key;
  key = `action:${a.id}@${a.instance}`;
  if (Object.isFrozen(a)) keys.set(a, key);
  return key;
};

/**
 * The open actions by key, kept from one listing to the next: a listing that differs by a few
 * actions changes the table by those. Listings are in one order (the store's: oldest first), so
 * what changed lies between what the two listings share at their start and at their end, found by
 * comparing objects; only that part is looked up by key (a thousand keys hashed per pass
 * otherwise). The actions of one key (one action in two directories while it moves) are next to
 * each other in that order, and the part looked up is widened to hold all of a key's, so that the
 * table holds the last of them, as a listing made whole would. A listing's table is current only
 * until the next one (`members` uses it only while the store has not changed since).
 */
export class OpenTable {
  private readonly table = new Map<string, Action>();
  /** The last listing, as given (listings are not changed once handed out). */
  private last: readonly Action[] = [];
  /** Moves with every update that changed the table; the keys each of the last ones changed. */
  generation = 0;
  private readonly log: { generation: number; keys: string[] }[] = [];

  /** The open actions of the last update, by key. */
  get byKey(): ReadonlyMap<string, Action> {
    return this.table;
  }

  update(open: readonly Action[]): ReadonlyMap<string, Action> {
    const prev = this.last;
    this.last = open;
    // What both listings share at the start (p) and at the end (e), widened to whole keys.
    let { start: p, end: e } = sharedEnds(prev, open);
    const sameKey = (shared: Action | undefined, a: Action | undefined, b: Action | undefined) => shared !== undefined && ((a !== undefined && actionKey(a) === actionKey(shared)) || (b !== undefined && actionKey(b) === actionKey(shared)));
    while (p > 0 && sameKey(open[p - 1], open[p], prev[p])) p--;
    while (e > 0 && sameKey(open[open.length - e], open[open.length - e - 1], prev[prev.length - e - 1])) e--;
    const changed: string[] = [];
    const before = new Map<string, Action | undefined>();
    for (let i = p; i < prev.length - e; i++) {
      const key = actionKey(prev[i]!);
      if (!before.has(key)) before.set(key, this.table.get(key));
      this.table.delete(key);
    }
    for (let i = p; i < open.length - e; i++) {
      const key = actionKey(open[i]!);
      if (!before.has(key)) before.set(key, this.table.get(key));
      this.table.set(key, open[i]!);
    }
    for (const [key, was] of before) if (this.table.get(key) !== was) changed.push(key);
    if (changed.length > 0) {
      this.log.push({ generation: ++this.generation, keys: changed });
      if (this.log.length > OpenTable.LOG_MAX) this.log.shift();
    }
    return this.table;
  }

  /** The keys changed by each update after `generation`, or undefined when the log does not reach back so far. */
  changedSince(generation: number): string[][] | undefined {
    if (generation === this.generation) return [];
    if (generation > this.generation || (this.log[0]?.generation ?? Infinity) > generation + 1) return undefined;
    return this.log.filter((e) => e.generation > generation).map((e) => e.keys);
  }

  private static readonly LOG_MAX = 32;
}
