// Reading the action files (docs/design/claims.md): the one listing primitive and every query,
// over the index (action-index.ts) and the parsed files (action-files.ts). The claim protocol
// that moves them is ActionStore (actions.ts).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ACTION_STATES, ACTION_TYPES, TERMINAL_STATES, isOpen, OPEN_STATES, parseFileName, type Action, type ActionState, type ActionType } from '../domain/actions.js';
import { realClock } from '../time/clock.js';
import { ActionIndex } from './action-index.js';
import { ActionPaths } from './action-paths.js';
import { ParsedActions } from './action-files.js';
import { mapLimit } from './atomic.js';
import { DEFAULT_QUERY_LIMIT, type ActionQuery } from './action-backend.js';
import { byTime, oldestFirst, OpenListing } from './open-listing.js';

/** A transition's claim: `.<id>.<8 hex>.claim` in the directory it moves to. */
export const CLAIM_RE = /^\.(.+)\.([0-9a-f]{8})\.claim$/;

export { DEFAULT_QUERY_LIMIT, type ActionQuery } from './action-backend.js';

export async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

const newestFirst = byTime((a) => a.updated_at, -1);

export class ActionReader {
  constructor(
    readonly root: string,
    protected readonly now: () => number = realClock.now,
  ) {
    this.paths = new ActionPaths(root);
  }

  private readonly paths: ActionPaths;

  dir(state: ActionState): string {
    return this.paths.dir(state);
  }

  /** The path of `name` in `state`'s directory (the same string each time). */
  protected file(state: ActionState, name: string): string {
    return this.paths.file(state, name);
  }

  /** While the directories are watched: what was read, until a hint names a change (action-index.ts). */
  private readonly index = new ActionIndex(() => this.now());
  static readonly INDEX_FRESH_MS = ActionIndex.FRESH_MS;

  /** Runs one of this store's writes (ActionStore): every file it changes goes through `changing`. */
  protected mutation<T>(fn: () => Promise<T>): Promise<T> {
    return this.index.write(fn);
  }

  /** A lookup that must see the disk as it is now (action-index.ts `fromDisk`). */
  protected fromDisk<T>(fn: () => Promise<T>): Promise<T> {
    return this.index.fromDisk(fn);
  }

  /**
   * One change of these files by this store (a rename, link, unlink, write): said before it starts
   * and after it ends, so a listing meanwhile reads them from disk and remembers nothing of them.
   */
  protected changing<T>(files: readonly string[], op: () => Promise<T>): Promise<T> {
    return this.index.changing(() => this.touched(files), op);
  }

  /**
   * A mark of every change the store has heard of (its own writes, the watcher's hints), while the
   * directories are watched: a listing taken after a mark is still current while the mark is the
   * same (each of the store's own changes moves it before it starts and after it ends). Undefined
   * when nothing is watched.
   */
  changeMark(): number | undefined {
    return this.index.mark();
  }

  /** The directories are watched from now on: `hint` is told of every change in them. */
  indexByHints(): void {
    this.index.enable();
  }

  /** Watching stopped or failed: every listing reads the directories again. */
  dropIndex(): void {
    this.index.drop();
  }

  /** `name` in `state`'s directory changed (the watcher saw it, or this store wrote it). */
  hint(state: ActionState, name: string): void {
    this.index.hint(this.dir(state), name, this.file(state, name));
  }

  /** Something changed in `state`'s directory, the watcher could not say what (a queue overflow). */
  hintDir(state: ActionState): void {
    this.index.hintDir(this.dir(state));
  }

  /**
   * The names of `state`'s directory that changed since the last call (the watcher's hints and
   * this store's writes), or undefined when all of it must be looked at (action-index.ts).
   */
  protected hintedSince(reader: 'adoption' | 'open listing', state: ActionState): string[] | undefined {
    return this.index.hintedSince(reader, this.dir(state));
  }

  /** This store changed these files. */
  private touched(files: readonly string[]): void {
    for (const file of files) {
      const state = ACTION_STATES.find((s) => this.dir(s) === path.dirname(file));
      if (state) this.hint(state, path.basename(file));
    }
  }

  /** The names in a state's directory (none when it is not there): every listing goes through it. */
  protected async names(state: ActionState): Promise<string[]> {
    // Only the open states' names are kept: the supervisor reads the open actions first and the
    // finished ones after, so that an action that finished in between is either still open or
    // counted. A name list kept of a finished directory could miss one another process (the CLI,
    // a `mv`) just moved there before its hint arrived, and the action would be neither.
    const dir = this.dir(state);
    const kept = isOpen(state) ? this.index.names(dir, (name) => this.paths.present(state, name)) : undefined;
    if (kept) return kept;
    const start = this.index.begin();
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    if (isOpen(state)) this.index.rememberNames(dir, names, start);
    return names;
  }

  /** The parsed files, checked against the index (action-files.ts). */
  private readonly parsed = new ParsedActions(this.index);

  protected readAction(file: string): Promise<Action | undefined> {
    return this.parsed.read(file);
  }

  protected readMany(files: readonly string[]): Promise<(Action | undefined)[]> {
    return this.parsed.readMany(files);
  }

  /** This store just published `text` under `file`, written as `written` says (action-files.ts `wrote`). */
  protected wrote(file: string, written: string, text: string): void {
    this.parsed.wrote(file, written, text);
  }

  /** One instance of an action, wherever it is now (waiting out a transition under way). */
  async find(id: string, instance: string): Promise<Action | undefined> {
    for (let attempt = 0; ; attempt++) {
      for (const s of ACTION_STATES) {
        const a = await this.readAction(this.file(s, isOpen(s) ? `${id}.json` : `${id}@${instance}.json`));
        if (a && a.instance === instance) return a;
      }
      // A file moving on while we looked (or holding a dot-name claim) is looked for again.
      if (attempt >= 20 || (attempt >= 2 && !(await this.moving(id)))) return undefined;
      await realClock.sleep(5);
    }
  }

  /** How many action files each state's directory holds. */
  async counts(): Promise<Record<ActionState, number>> {
    const out = {} as Record<ActionState, number>;
    for (const s of ACTION_STATES) {
      const names = await this.names(s);
      out[s] = names.filter((n) => parseFileName(n) !== undefined).length;
    }
    return out;
  }

  /**
   * The one way to read actions (docs/design/claims.md). Defaults, shared by the CLI, GET
   * /actions and the bot: the open states, newest first (by updated_at), at most 100. `since`
   * keeps actions updated after that time; in the large finished directories it skips files
   * whose mtime is older without reading them. Returns the page and how many matched in all.
   */
  async query(q: ActionQuery = {}): Promise<{ actions: Action[]; total: number }> {
    const states = q.states ?? OPEN_STATES;
    const out: Action[] = [];
    for (const s of states) {
      const dir = this.dir(s);
      let names = (await this.names(s)).filter((n) => parseFileName(n));
      if (q.id !== undefined) names = names.filter((n) => parseFileName(n)!.id === q.id);
      if (q.since !== undefined && !isOpen(s)) {
        const since = q.since;
        // The file's mtime is when it was last written: older files cannot be newer inside.
        const fresh = await mapLimit(names, 8, async (n) => ((await fs.lstat(path.join(dir, n)).catch(() => undefined))?.mtime.toISOString() ?? '') >= since);
        names = names.filter((_, i) => fresh[i]);
      }
      const read = await this.readMany(names.map((name) => this.file(s, name)));
      for (const a of read) {
        if (!a) continue;
        if (q.node !== undefined && a.node !== q.node) continue;
        if (q.service !== undefined && a.service !== q.service) continue;
        if (q.since !== undefined && a.updated_at <= q.since) continue;
        out.push(a);
      }
    }
    out.sort(q.order === 'oldest' ? oldestFirst : newestFirst);
    const limit = q.limit ?? DEFAULT_QUERY_LIMIT;
    return { actions: out.slice(0, limit), total: out.length };
  }

  /** Finished actions updated after `sinceIso`, newest first, at most `limit`. */
  async finishedSince(sinceIso: string, limit = 500): Promise<Action[]> {
    return (await this.query({ states: TERMINAL_STATES, since: sinceIso, limit })).actions;
  }

  /**
   * Names of finished action files not seen before, per state (the supervisor counts each
   * outcome once for cooldowns; a finished file never changes its content).
   */
  async finishedNames(states: readonly ActionState[]): Promise<{ state: ActionState; name: string }[]> {
    const out: { state: ActionState; name: string }[] = [];
    for (const state of states) {
      for (const name of await this.names(state)) if (parseFileName(name)) out.push({ state, name });
    }
    return out;
  }

  /** Action files by state and type (for /metrics); the type comes from each file. */
  async countsByType(): Promise<{ state: ActionState; type: ActionType; n: number }[]> {
    const out: { state: ActionState; type: ActionType; n: number }[] = [];
    for (const state of ACTION_STATES) {
      const { actions } = await this.query({ states: [state], limit: Infinity });
      for (const type of ACTION_TYPES) out.push({ state, type, n: actions.filter((a) => a.type === type).length });
    }
    return out;
  }

  /** One file of a state's directory, by name. */
  async read(state: ActionState, name: string): Promise<Action | undefined> {
    if (!parseFileName(name)) return undefined;
    return this.readAction(this.file(state, name));
  }

  /** Action files of one state, oldest first (all of them). Unreadable files are skipped. */
  async list(state: ActionState): Promise<Action[]> {
    return (await this.query({ states: [state], order: 'oldest', limit: Infinity })).actions;
  }

  /** The open actions as last listed, brought up to date by the names hinted since (open-listing.ts). */
  private readonly openListing = new OpenListing({
    hintedSince: (s) => this.hintedSince('open listing', s),
    names: (s) => this.names(s),
    file: (s, name) => this.file(s, name),
    readMany: (files) => this.readMany(files),
    present: (s, name) => this.paths.present(s, name),
  });

  /** Every open action (pending, approved, running), oldest first. */
  async listOpen(): Promise<Action[]> {
    return this.openListing.list();
  }

  /**
   * Open actions plus those caught in the middle of a transition (a claim, in any directory,
   * with the state of the directory it is moving to). The supervisor plans on this, so an action
   * between two states is never mistaken for a missing one and proposed again.
   */
  async listOpenOrMoving(): Promise<Action[]> {
    // A transition moves a file through up to three names (open file, claim, next file); a
    // listing taken across it may see none of them. The open files are listed (and read) first,
    // the claims after: a listed claim gone by its read means a transition ran in between, and
    // the whole listing is taken again (docs/design/claims.md, "Reading open actions").
    for (let attempt = 1; ; attempt++) {
      const { actions: open, gone } = await this.openListing.listing();
      // An open file gone by its read: its transition's next name may not be heard of yet.
      if (gone > 0 && attempt < 5) continue;
      const claims: { state: ActionState; name: string }[] = [];
      for (const s of ACTION_STATES) for (const name of await this.names(s)) if (CLAIM_RE.test(name)) claims.push({ state: s, name });
      const read = await this.readMany(claims.map((x) => this.file(x.state, x.name)));
      let vanished = false;
      for (let i = 0; i < claims.length && !vanished; i++) {
        if (read[i] === undefined && !(await exists(this.file(claims[i]!.state, claims[i]!.name)))) vanished = true;
      }
      if (vanished && attempt < 5) continue;
      if (claims.length === 0) return open;
      const seen = new Set(open.map((a) => a.id));
      claims.forEach((x, i) => {
        const a = read[i];
        if (!a || seen.has(a.id)) return;
        open.push({ ...a, state: x.state });
        seen.add(a.id);
      });
      return open;
    }
  }

  /** True while a transition of `id` holds its claim (a dot-name) somewhere. */
  async moving(id: string): Promise<boolean> {
    const found = await Promise.all(
      ACTION_STATES.map(async (s) => (await this.names(s)).some((n) => CLAIM_RE.exec(n)?.[1] === id)),
    );
    return found.includes(true);
  }

  /**
   * Where `id` is once a transition under way (its claim) has landed: the open instance or the
   * newest finished one — or, if the claim is still held after a moment, the action as the claim
   * has it, in the state it is moving to. What a refused transition reports as the action's state.
   */
  async settled(id: string): Promise<Action | undefined> {
    for (let attempt = 0; attempt < 20 && (await this.moving(id)); attempt++) await realClock.sleep(5);
    for (const s of ACTION_STATES) {
      const claim = (await this.names(s)).find((n) => CLAIM_RE.exec(n)?.[1] === id);
      const a = claim ? await this.readAction(this.file(s, claim)) : undefined;
      if (a) return { ...a, state: s };
    }
    return this.get(id);
  }

  /** True when `id` is open (any file name `<id>.json` in an open state) or being moved. */
  async busy(id: string): Promise<boolean> {
    const open = await Promise.all(OPEN_STATES.map((s) => exists(this.file(s, `${id}.json`))));
    return open.includes(true) || (await this.moving(id));
  }

  /** True when a finished file already carries this instance of `id` (names are unique). */
  protected async instanceUsed(id: string, instance: string): Promise<boolean> {
    const finished = ACTION_STATES.filter((s) => !isOpen(s));
    return (await Promise.all(finished.map((s) => exists(this.file(s, `${id}@${instance}.json`))))).includes(true);
  }

  /** The open instance of `id`, or the newest finished one. */
  async get(id: string): Promise<Action | undefined> {
    for (const s of OPEN_STATES) {
      const a = await this.readAction(this.file(s, `${id}.json`));
      if (a) return a;
    }
    let newest: Action | undefined;
    for (const s of ACTION_STATES.filter((x) => !isOpen(x))) {
      const names = await this.names(s);
      for (const name of names) {
        const p = parseFileName(name);
        if (!p || p.id !== id || !p.instance) continue;
        const a = await this.readAction(this.file(s, name));
        if (a && (!newest || a.updated_at > newest.updated_at)) newest = a;
      }
    }
    return newest;
  }

  /** Every instance of `id` in any state, oldest first. */
  async history(id: string): Promise<Action[]> {
    const out: Action[] = [];
    for (const s of ACTION_STATES) {
      const names = await this.names(s);
      for (const name of names) {
        const p = parseFileName(name);
        if (!p || p.id !== id) continue;
        const a = await this.readAction(this.file(s, name));
        if (a) out.push(a);
      }
    }
    return out.sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  }
}
