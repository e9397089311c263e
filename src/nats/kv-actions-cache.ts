// The bucket HOMELAB_ACTIONS as this process last heard it (docs/design/claims.md, "Actions in
// JetStream KV"): every entry with its revision, kept by a watch of the whole bucket and by the
// store's own writes. A revision older than the one held never replaces it, so an own write that
// landed before the watch delivers it is not undone. Reads answer from here; writes are
// compare-and-set against the server, so a stale read can only cost a retry, never a double win.
import { ActionSchema, ACTION_STATES, type Action, type ActionState } from '../domain/actions.js';

/** An action instance's key: `a.<id>.<instance>`; the open instance of an id: `o.<id>`. */
export function actionKey(id: string, instance: string): string {
  return `a.${keyPart(id)}.${keyPart(instance)}`;
}

export function openKey(id: string): string {
  return `o.${keyPart(id)}`;
}

/** KV keys are NATS subjects: letters, digits, `_` and `-` stay, every other byte is `=` and two hex digits. */
export function keyPart(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export interface Held<T> {
  rev: number;
  value: T;
}

/** What the open key holds: which instance of the id is open (or being created). */
export interface OpenPointer {
  id: string;
  instance: string;
  /** When the pointer was written (server time, ms): a creation that never finished is old. */
  at: number;
}

export class ActionsCache {
  private readonly actions = new Map<string, Held<Action>>();
  private readonly pointers = new Map<string, Held<OpenPointer>>();
  /** Keys removed, with the revision of the removal: an older entry arriving later is not taken back. */
  private readonly removed = new Map<string, number>();
  private readonly byState = new Map<ActionState, Map<string, Action>>(ACTION_STATES.map((s) => [s, new Map()]));
  private readonly byId = new Map<string, Map<string, Action>>();
  /** Moves at every change: a listing taken at one mark is current while the mark is the same. */
  mark = 0;
  /** Entries that are not actions (written by hand, another version): counted, never read. */
  unreadable = 0;

  /**
   * One entry as the server has it (a watch delivery, a read). Returns whether it changed what is
   * held, and the action it holds now when it is one.
   */
  apply(key: string, rev: number, value: Uint8Array | undefined, at = 0): { changed: boolean; action?: Action } {
    const held = this.actions.get(key)?.rev ?? this.pointers.get(key)?.rev ?? this.removed.get(key) ?? 0;
    if (rev <= held) return { changed: false };
    this.drop(key);
    if (value === undefined) {
      this.removed.set(key, rev);
    } else if (key.startsWith('o.')) {
      const p = parseJson(value) as Partial<OpenPointer> | undefined;
      if (p && typeof p.id === 'string' && typeof p.instance === 'string') this.pointers.set(key, { rev, value: { id: p.id, instance: p.instance, at: p.at ?? at } });
      else this.unreadable++;
    } else {
      const parsed = ActionSchema.safeParse(parseJson(value));
      if (parsed.success) {
        const action = Object.freeze(parsed.data);
        this.put(key, rev, action);
        this.mark++;
        return { changed: true, action };
      }
      this.unreadable++;
    }
    this.mark++;
    return { changed: true };
  }

  /** An own write that the server accepted at `rev`. */
  applyAction(key: string, rev: number, a: Action): void {
    if (rev <= (this.actions.get(key)?.rev ?? this.removed.get(key) ?? 0)) return;
    this.drop(key);
    this.put(key, rev, Object.freeze({ ...a }));
    this.mark++;
  }

  applyPointer(key: string, rev: number, p: OpenPointer): void {
    if (rev <= (this.pointers.get(key)?.rev ?? this.removed.get(key) ?? 0)) return;
    this.drop(key);
    this.pointers.set(key, { rev, value: p });
    this.mark++;
  }

  /** Keys a fresh watch did not deliver although they were older than its snapshot: removed meanwhile. */
  forgetExcept(seen: ReadonlySet<string>, upTo: number): void {
    for (const key of [...this.actions.keys(), ...this.pointers.keys()]) {
      const rev = this.actions.get(key)?.rev ?? this.pointers.get(key)?.rev ?? 0;
      if (!seen.has(key) && rev <= upTo) {
        this.drop(key);
        this.mark++;
      }
    }
  }

  action(key: string): Held<Action> | undefined {
    return this.actions.get(key);
  }

  pointer(id: string): Held<OpenPointer> | undefined {
    return this.pointers.get(openKey(id));
  }

  inState(state: ActionState): IterableIterator<Action> {
    return this.byState.get(state)!.values();
  }

  count(state: ActionState): number {
    return this.byState.get(state)!.size;
  }

  /** Every instance of an id. */
  instances(id: string): Action[] {
    return [...(this.byId.get(id)?.values() ?? [])];
  }

  private put(key: string, rev: number, a: Action): void {
    this.actions.set(key, { rev, value: a });
    this.byState.get(a.state)!.set(key, a);
    let ids = this.byId.get(a.id);
    if (!ids) this.byId.set(a.id, (ids = new Map()));
    ids.set(key, a);
  }

  private drop(key: string): void {
    this.removed.delete(key);
    this.pointers.delete(key);
    const had = this.actions.get(key);
    if (!had) return;
    this.actions.delete(key);
    this.byState.get(had.value.state)!.delete(key);
    const ids = this.byId.get(had.value.id);
    ids?.delete(key);
    if (ids?.size === 0) this.byId.delete(had.value.id);
  }
}

function parseJson(value: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
}
