// The open actions, oldest first, kept from one listing to the next (docs/design/claims.md,
// "Index"): while the directories are watched, a listing reads again only the names a hint named
// since the last one (the watcher's, this store's own writes), so that listing a thousand open
// actions costs what changed, not the thousand. Each open directory is looked at whole at the
// first listing, after a change the watcher could not name, and at least every
// ActionIndex.FRESH_MS; when nothing is watched, at every listing.
import { OPEN_STATES, parseFileName, type Action, type ActionState } from '../domain/actions.js';

/** What the listing reads through (ActionReader). */
export interface OpenListingSource {
  /** Names of `state`'s directory hinted since the last call, or undefined: look at all of it. */
  hintedSince(state: ActionState): string[] | undefined;
  names(state: ActionState): Promise<string[]>;
  file(state: ActionState, name: string): string;
  readMany(files: readonly string[]): Promise<(Action | undefined)[]>;
  /** Whether `name` is in `state`'s directory now. */
  present(state: ActionState, name: string): boolean;
}

/** Actions by a time, ties by id: the orders of a listing. */
export const byTime = (key: (a: Action) => string, dir: 1 | -1) => (a: Action, b: Action) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
export const oldestFirst = byTime((a) => a.created_at, 1);

export class OpenListing {
  /** Per open directory: each action file's name and what it holds. */
  private readonly held = new Map<ActionState, Map<string, Action>>(OPEN_STATES.map((s) => [s, new Map()]));
  /**
   * The held actions, oldest first: sorted whole at the first listing, then kept in order one
   * change at a time (a new action is one binary search and one insertion, not a sort of a thousand).
   */
  private sorted: Action[] | undefined;

  constructor(private readonly src: OpenListingSource) {}

  /** The open directory each held action is in, by its place in OPEN_STATES (an action moving is in two for a moment). */
  private readonly dirOf = new Map<Action, number>();
  /** Oldest first; the same action in two directories (a transition under way) in the directories' order. */
  private readonly order = (x: Action, y: Action): number => oldestFirst(x, y) || this.dirOf.get(x)! - this.dirOf.get(y)!;

  /** The listing under way: listings run one after another (each sees what the one before read). */
  private tail: Promise<unknown> = Promise.resolve();

  /** Every open action (pending, approved, running: by the directory it is in), oldest first. */
  async list(): Promise<Action[]> {
    return (await this.listing()).actions;
  }

  /**
   * The open actions, and how many names this listing read that were gone by their read: each was
   * moved on by a transition (or removed), whose next name may not be known yet.
   */
  listing(): Promise<{ actions: Action[]; gone: number }> {
    const next = this.tail.then(() => this.listNow());
    this.tail = next.catch(() => undefined);
    return next;
  }

  private async listNow(): Promise<{ actions: Action[]; gone: number }> {
    const seen = { gone: 0 };
    for (const state of OPEN_STATES) {
      const held = this.held.get(state)!;
      const hinted = this.src.hintedSince(state);
      if (hinted === undefined) {
        // Whole: what a name no longer in the directory held goes.
        const names = (await this.src.names(state)).filter((n) => parseFileName(n) !== undefined);
        await this.readNames(state, names, held, seen);
        const listed = new Set(names);
        for (const [name, a] of held) {
          if (listed.has(name)) continue;
          held.delete(name);
          this.dirOf.delete(a);
          this.replace(a, undefined);
        }
      } else await this.readNames(state, hinted.filter((n) => parseFileName(n) !== undefined), held, seen);
    }
    this.sorted ??= [...this.held.values()].flatMap((m) => [...m.values()]).sort(this.order);
    return { actions: [...this.sorted], gone: seen.gone };
  }

  private async readNames(state: ActionState, names: readonly string[], held: Map<string, Action>, seen: { gone: number }): Promise<void> {
    const read = await this.src.readMany(names.map((name) => this.src.file(state, name)));
    names.forEach((name, i) => {
      const a = read[i];
      if (!a && !this.src.present(state, name)) seen.gone++;
      const was = held.get(name);
      if (was === a) return;
      if (was) this.dirOf.delete(was);
      if (a) {
        held.set(name, a);
        this.dirOf.set(a, OPEN_STATES.indexOf(state));
      } else held.delete(name);
      this.replace(was, a);
    });
  }

  /** The sorted listing with `was` (if held) taken out and `now` (if any) put in its place in the order. */
  private replace(was: Action | undefined, now: Action | undefined): void {
    const sorted = this.sorted;
    if (!sorted) return;
    if (was) {
      const at = sorted.indexOf(was);
      if (at >= 0) sorted.splice(at, 1);
    }
    if (!now) return;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.order(sorted[mid]!, now) <= 0) lo = mid + 1;
      else hi = mid;
    }
    sorted.splice(lo, 0, now);
  }
}
