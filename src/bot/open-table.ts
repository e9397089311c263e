// The open actions as the notifier keys them: an action's key (`action:<id>@<instance>`, the
// outbox's and the group records'), and the table of open actions by key kept from one listing to
// the next, with which keys each update changed (docs/design/telegram.md).
import type { Action } from '../domain/actions.js';

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
 * actions changes the table by those (each listing is a new table otherwise: a thousand keys
 * hashed again per pass). A listing's table is current only until the next one (`members`
 * uses it only while the store has not changed since).
 */
export class OpenTable {
  private readonly table = new Map<string, Action>();
  /** The listing each action object was last in. */
  private readonly listedIn = new WeakMap<Action, number>();
  private listing = 0;
  /** Moves with every update that changed the table; the keys each of the last ones changed. */
  generation = 0;
  private readonly log: { generation: number; keys: string[] }[] = [];

  /** The open actions of the last update, by key. */
  get byKey(): ReadonlyMap<string, Action> {
    return this.table;
  }

  update(open: readonly Action[]): ReadonlyMap<string, Action> {
    const n = ++this.listing;
    const changed: string[] = [];
    for (const a of open) {
      this.listedIn.set(a, n);
      const key = actionKey(a);
      if (this.table.get(key) === a) continue;
      this.table.set(key, a);
      changed.push(key);
    }
    if (this.table.size > open.length) {
      for (const [key, a] of this.table) {
        if (this.listedIn.get(a) === n) continue;
        this.table.delete(key);
        changed.push(key);
      }
    }
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
