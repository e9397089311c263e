// The action store's index while its directories are watched (docs/design/claims.md "Index"):
// each open directory's names as last read and when each file was last checked, valid until a
// hint names that file (or directory) and at most FRESH_MS in any case. What a read finds is
// remembered unless a hint named the same file while the read ran. The store's own changes are
// said before each system call and after it, so no reader beside a write meets the index stale.

/** What a read began with: handed back to `rememberNames` / `rememberCheck` once it is done. */
export interface ReadStart {
  readonly hints: number;
  readonly kept: Kept | undefined;
}

interface Kept {
  /** Per directory: its names as last read, the names hinted since (looked up one by one when next listed), when read. */
  names: Map<string, { names: Set<string>; dirty: Set<string>; at: number }>;
  checked: Map<string, number>;
}

export class ActionIndex {
  /** How long a kept name list or check holds without any hint (a hint lost on the way costs that long). */
  static readonly FRESH_MS = 30_000;
  /** Bound of the kept checks and of the hint marks. */
  static readonly MAX = 20_000;
  /** More names hinted in one directory than this since its listing: it is read whole again. */
  static readonly DIRTY_MAX = 256;

  constructor(private readonly now: () => number) {}

  private kept: Kept | undefined;
  /** Hints and writes seen so far (`mark`). */
  private hints = 0;
  /**
   * The hint count at the last hint of each file and directory. Bounded: when cleared, `floor`
   * says that any read begun before then is not remembered either.
   */
  private readonly hintedAt = new Map<string, number>();
  private floor = 0;
  /** Lookups under way that must see the disk as it is now (`fromDisk`). */
  private bypass = 0;
  /**
   * Per reader (adoption, the open listing), per directory: the names hinted since its last
   * `hintedSince` of it ('all': look at all of it), and when it last looked at it whole.
   */
  private readonly journals = new Map<string, Map<string, { names: Set<string> | 'all'; wholeAt: number }>>();

  /** The directories are watched from now on: `hint` is told of every change in them. */
  enable(): void {
    this.kept = { names: new Map(), checked: new Map() };
    this.journals.clear();
  }

  /** Watching stopped or failed: every listing reads the disk again. */
  drop(): void {
    this.kept = undefined;
    this.journals.clear();
  }

  /**
   * A mark of every change heard of (the store's own, the watcher's hints) while watched: a
   * listing taken after a mark is current while the mark is the same.
   */
  mark(): number | undefined {
    return this.kept ? this.hints : undefined;
  }

  /** `name` (path `file`) in directory `dir` changed. */
  hint(dir: string, name: string, file: string): void {
    this.hints++;
    if (this.hintedAt.size >= ActionIndex.MAX) {
      this.hintedAt.clear();
      this.floor = this.hints;
    }
    this.hintedAt.set(dir, this.hints);
    this.hintedAt.set(file, this.hints);
    const list = this.kept?.names.get(dir);
    if (list && list.dirty.size < ActionIndex.DIRTY_MAX) list.dirty.add(name);
    else this.kept?.names.delete(dir);
    this.kept?.checked.delete(file);
    for (const journal of this.journals.values()) {
      const j = journal.get(dir);
      if (!j || j.names === 'all') continue;
      if (j.names.size < ActionIndex.DIRTY_MAX) j.names.add(name);
      else j.names = 'all';
    }
  }

  /** Something changed in `dir` and the watcher could not say what: nothing kept of it holds. */
  hintDir(dir: string): void {
    this.hints++;
    this.floor = this.hints;
    this.hintedAt.clear();
    for (const journal of this.journals.values()) {
      const j = journal.get(dir);
      if (j) j.names = 'all';
    }
    if (!this.kept) return;
    this.kept.names.delete(dir);
    for (const file of this.kept.checked.keys()) if (file.startsWith(dir + '/')) this.kept.checked.delete(file);
  }

  /** Runs one of the store's writes: every file it changes goes through `changing`. */
  async write<T>(fn: () => Promise<T>): Promise<T> {
    this.hints++;
    try {
      return await fn();
    } finally {
      this.hints++;
    }
  }

  /**
   * Runs a lookup that must see the disk as it is now, not as last heard (where is the action a
   * failed rename did not find; what a crash left): every listing reads the disk while it runs.
   */
  async fromDisk<T>(fn: () => Promise<T>): Promise<T> {
    this.bypass++;
    try {
      return await fn();
    } finally {
      this.bypass--;
    }
  }

  /** One change (a rename, link, unlink, write): `say` is called before it starts and after it ends. */
  async changing<T>(say: () => void, op: () => Promise<T>): Promise<T> {
    say();
    try {
      return await op();
    } finally {
      say();
    }
  }

  /**
   * The kept names of a directory, if fresh: the names hinted since are looked up one by one
   * (`exists`, synchronous: nothing can change the list while it is brought up to date), which
   * costs a system call per name that changed instead of a listing of a thousand.
   */
  names(dir: string, exists: (name: string) => boolean): string[] | undefined {
    const kept = this.usable()?.names.get(dir);
    if (!kept || !this.fresh(kept.at)) return undefined;
    for (const name of kept.dirty) {
      if (exists(name)) kept.names.add(name);
      else kept.names.delete(name);
    }
    kept.dirty.clear();
    return [...kept.names];
  }

  /**
   * The names of `dir` hinted since `reader`'s last call for it, or undefined when all of it must be
   * looked at: not watched, the first call, a change the watcher could not name, more than
   * DIRTY_MAX names, or FRESH_MS since it was last looked at whole. A new list starts either way,
   * before the caller reads: a hint from now on is in the next one.
   */
  hintedSince(reader: string, dir: string): string[] | undefined {
    let journal = this.journals.get(reader);
    if (!journal) this.journals.set(reader, (journal = new Map()));
    const j = journal.get(dir);
    const whole = !this.usable() || !j || j.names === 'all' || !this.fresh(j.wholeAt);
    journal.set(dir, { names: new Set(), wholeAt: whole ? this.now() : j!.wholeAt });
    return whole ? undefined : [...(j!.names as Set<string>)];
  }

  /** True when `file` was checked recently and nothing said it changed since. */
  checked(file: string): boolean {
    return this.fresh(this.usable()?.checked.get(file));
  }

  begin(): ReadStart {
    return { hints: this.hints, kept: this.kept };
  }

  rememberNames(dir: string, names: readonly string[], start: ReadStart): void {
    if (this.current(start, dir)) start.kept!.names.set(dir, { names: new Set(names), dirty: new Set(), at: this.now() });
  }

  rememberCheck(file: string, start: ReadStart): void {
    if (!this.current(start, file)) return;
    const checked = start.kept!.checked;
    if (checked.size >= ActionIndex.MAX) checked.clear();
    checked.set(file, this.now());
  }

  /** The read begun at `start` is still the truth about `key`: no hint named it meanwhile. */
  private current(start: ReadStart, key: string): boolean {
    return start.kept !== undefined && this.kept === start.kept && start.hints >= this.floor && (this.hintedAt.get(key) ?? -1) <= start.hints;
  }

  private usable(): Kept | undefined {
    return this.bypass === 0 ? this.kept : undefined;
  }

  private fresh(at: number | undefined): boolean {
    return at !== undefined && Math.abs(this.now() - at) < ActionIndex.FRESH_MS;
  }
}
