// The action files and the claim protocol (docs/design/claims.md).
//
// A transition renames the file into the target directory under a dot-name (the claim: rename is
// atomic, so of several racers exactly one gets the file), rewrites it there (temp + rename over
// the claim), then publishes it under its final name with link(2), which never overwrites. A
// claim left by a crash is finished at the next start.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  ACTION_STATES,
  canTransition,
  fileNameFor,
  isOpen,
  TERMINAL_STATES,
  parseFileName,
  type Action,
  type ActionState,
  type Actor,
} from '../domain/actions.js';
import type { ActionDraft } from '../domain/plan.js';
import { storageError } from '../errors.js';
import { ActionReader, CLAIM_RE } from './action-queries.js';
import { newAction, TransitionError, type ActionBackend, type TransitionRequest } from './action-backend.js';

export { TransitionError, type TransitionRequest } from './action-backend.js';
import { fsyncDir, stableJson, writeFileAtomic, writeTempKnown } from './atomic.js';

/** A file as this store wrote it: its text and its writtenVersion (atomic.ts). */
interface Written {
  readonly text: string;
  readonly written: string;
}

/** True when both names are links to one file (same device and inode). */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([fs.lstat(a, { bigint: true }), fs.lstat(b, { bigint: true })]).catch(() => [undefined, undefined]);
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
}

export class ActionStore extends ActionReader implements ActionBackend {
  async ensureDirs(): Promise<void> {
    for (const s of ACTION_STATES) await fs.mkdir(this.dir(s), { recursive: true });
  }
  /**
   * Writes a new pending action. Returns undefined when the id is already open or moving (the
   * supervisor is idempotent). An instance that already exists in history gets a suffix.
   */
  async create(draft: ActionDraft, by = 'supervisor'): Promise<Action | undefined> {
    if (await this.busy(draft.id)) return undefined;
    const at = new Date(this.now()).toISOString();
    let instance = draft.instance;
    for (let n = 1; await this.instanceUsed(draft.id, instance); n++) instance = `${draft.instance}-${n}`;
    const action = newAction(draft, instance, at, by);
    const ok = await this.mutation(() => this.publishNew(this.dir('pending'), fileNameFor(action), stableJson(action)));
    return ok ? action : undefined;
  }

  /** Writes `data` under `name` in `dir` unless that name exists. */
  private async publishNew(dir: string, name: string, data: string): Promise<boolean> {
    const final = path.join(dir, name);
    let tmp: string;
    let written: string;
    try {
      ({ tmp, written } = await writeTempKnown(final, data));
    } catch (err) {
      throw storageError(err, final);
    }
    try {
      await this.changing([final], () => fs.link(tmp, final));
      this.wrote(final, written, data);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
      await fsyncDir(dir);
    }
  }

  /**
   * Moves one action from `from` to `to`. Exactly one of several concurrent callers wins; the
   * others get a TransitionError that carries the action's current state.
   */
  transition(req: TransitionRequest): Promise<Action> {
    return this.mutation(() => this.transitionNow(req));
  }

  private async transitionNow(req: TransitionRequest): Promise<Action> {
    if (!canTransition(req.from, req.to)) {
      throw new TransitionError(`cannot move an action from ${req.from} to ${req.to}`, 'illegal');
    }
    const src = path.join(this.dir(req.from), `${req.id}.json`);
    const claim = path.join(this.dir(req.to), `.${req.id}.${randomBytes(4).toString('hex')}.claim`);
    try {
      await this.changing([src, claim], () => fs.rename(src, claim));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Another transition may hold it this moment: its outcome, not "gone", is the answer.
      const current = await this.fromDisk(() => this.settled(req.id));
      if (!current) throw new TransitionError(`no action ${req.id}`, 'not_found');
      throw new TransitionError(`${req.id} is ${current.state}, not ${req.from}`, 'wrong_state', current);
    }
    let action = await this.readAction(claim);
    if (!action || action.state !== req.from || (req.instance !== undefined && action.instance !== req.instance)) {
      // Not what the caller meant (another instance, or a file moved by hand): put it back.
      await this.restore(claim, src);
      const current = action ?? (await this.fromDisk(() => this.get(req.id)));
      if (action && req.instance !== undefined && action.instance !== req.instance) {
        throw new TransitionError(`${req.id}: instance ${req.instance} is no longer open (now ${action.instance}, ${action.state})`, 'stale_instance', action);
      }
      throw new TransitionError(`${req.id} is not a ${req.from} action`, 'wrong_state', current);
    }
    const at = new Date(this.now()).toISOString();
    action = {
      ...action,
      ...req.patch,
      state: req.to,
      updated_at: at,
      history: [...action.history, { state: req.to, at, by: req.by, ...(req.note ? { note: req.note } : {}) }],
    };
    let written: Written;
    try {
      written = await this.rewriteClaim(claim, action);
    } catch (err) {
      // Nothing changed yet (a full disk, say): the action goes back where it was.
      await this.restore(claim, src).catch(() => {});
      throw err;
    }
    await this.publishClaim(claim, action, written);
    return action;
  }

  /** Writes `action` over its claim; returns what it wrote (publishClaim makes it known under the final name). */
  private async rewriteClaim(claim: string, action: Action): Promise<Written> {
    let tmp: string | undefined;
    const text = stableJson(action);
    try {
      let written: string;
      ({ tmp, written } = await writeTempKnown(claim, text));
      await this.changing([claim], () => fs.rename(tmp!, claim));
      return { text, written };
    } catch (err) {
      if (tmp) await fs.rm(tmp, { force: true });
      throw storageError(err, claim);
    }
  }

  /** Publishes a claim under its final name; `known`: what rewriteClaim wrote in it (a crash's claim is not known). */
  private async publishClaim(claim: string, action: Action, known?: Written): Promise<void> {
    const dir = path.dirname(claim);
    const final = path.join(dir, fileNameFor(action));
    try {
      await this.changing([final], () => fs.link(claim, final));
      if (known) this.wrote(final, known.written, known.text);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A crash between link and unlink left the claim published already: only the unlink is due.
      if (!(await sameFile(claim, final))) {
        // History is never overwritten: keep both, under a name that says why.
        const alt = path.join(dir, `${action.id}@${action.instance}-dup-${randomBytes(2).toString('hex')}.json`);
        await this.changing([alt], () => fs.link(claim, alt));
      }
    }
    await this.changing([claim], () => fs.unlink(claim));
    await fsyncDir(dir);
  }

  private async restore(claim: string, src: string): Promise<void> {
    try {
      await this.changing([src], () =>
        fs.link(claim, src).catch(async (err: NodeJS.ErrnoException) => {
          // Put back already, by a run that crashed before its unlink.
          if (err.code !== 'EEXIST' || !(await sameFile(claim, src))) throw err;
        }),
      );
      await this.changing([claim], () => fs.unlink(claim));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A new instance appeared meanwhile (only possible by hand): keep this one as history.
      const a = await this.readAction(claim);
      if (a) await this.publishClaim(claim, { ...a });
    }
    await fsyncDir(path.dirname(src));
  }

  /**
   * Adds facts to a finished action (verification), in place and atomically. Its state and
   * history of transitions stay as they are. Returns the updated action, or undefined if gone.
   */
  async annotate(state: ActionState, a: Action, patch: Record<string, unknown>): Promise<Action | undefined> {
    if (isOpen(state)) throw new Error('only finished actions are annotated; open ones move by transition');
    const file = path.join(this.dir(state), fileNameFor({ ...a, state }));
    const current = await this.readAction(file);
    if (!current) return undefined;
    const updated: Action = { ...current, ...patch, updated_at: new Date(this.now()).toISOString() };
    await this.mutation(() => this.changing([file], () => writeFileAtomic(file, stableJson(updated))));
    return updated;
  }

  /**
   * Finished actions that ended before `beforeMs` (retention): the files last written before it
   * are read (a finished file is only ever annotated later, never earlier), then their end.
   */
  async finishedBefore(beforeMs: number): Promise<Action[]> {
    const out: Action[] = [];
    for (const { state, name } of await this.finishedNames(TERMINAL_STATES)) {
      const st = await fs.lstat(path.join(this.dir(state), name)).catch(() => undefined);
      if (!st || st.mtimeMs >= beforeMs) continue;
      const a = await this.read(state, name);
      if (a && Date.parse(a.finished_at ?? a.updated_at) < beforeMs) out.push({ ...a, state });
    }
    return out;
  }

  /** Removes a finished action's file (retention); an open action is never removed. */
  async removeFinished(a: Action): Promise<void> {
    if (isOpen(a.state)) throw new Error(`only finished actions are removed; ${a.id} is ${a.state}`);
    const file = path.join(this.dir(a.state), fileNameFor(a));
    await this.mutation(() => this.changing([file], () => fs.rm(file, { force: true })));
  }

  /**
   * Finishes what a crash interrupted: claims left in any directory are published there, moved
   * files whose content says another state are adopted (a hand-made `mv pending → approved` is an
   * approval by file), and stray temp files are removed. Returns what it did, for the log.
   */
  recover(): Promise<string[]> {
    return this.mutation(() => this.fromDisk(() => this.recoverNow()));
  }

  private async recoverNow(): Promise<string[]> {
    const done: string[] = [];
    const at = new Date(this.now()).toISOString();
    for (const state of ACTION_STATES) {
      const dir = this.dir(state);
      const names = await this.names(state);
      for (const name of names) {
        const full = path.join(dir, name);
        if (name.startsWith('.') && name.endsWith('.tmp')) {
          await this.changing([full], () => fs.rm(full, { force: true }));
          done.push(`removed temp ${state}/${name}`);
          continue;
        }
        if (!CLAIM_RE.test(name)) continue;
        let a = await this.readAction(full);
        if (!a) {
          await this.changing([full], () => fs.rm(full, { force: true }));
          done.push(`removed unreadable claim ${state}/${name}`);
          continue;
        }
        if (a.state !== state && !canTransition(a.state, state)) {
          await this.restore(full, path.join(this.dir(a.state), fileNameFor(a)));
          done.push(`put back ${a.id} into ${a.state}`);
          continue;
        }
        let known: Written | undefined;
        if (a.state !== state) {
          a = {
            ...a,
            state,
            updated_at: at,
            ...(state === 'approved' && !a.approved_by ? { approved_by: { via: 'recovery' as const } } : {}),
            history: [...a.history, { state, at, by: 'recovery', note: 'transition interrupted by a restart; finished at start' }],
          };
          known = await this.rewriteClaim(full, a);
        }
        await this.publishClaim(full, a, known);
        done.push(`finished ${a.id} → ${state}`);
      }
    }
    done.push(...(await this.adoptMoved()));
    return done;
  }

  private readonly adoptedListeners: ((a: Action) => void)[] = [];

  /** Tells `fn` of every action this store adopts (a file moved by hand, recorded as a transition). */
  onAdopted(fn: (a: Action) => void): void {
    this.adoptedListeners.push(fn);
  }

  /**
   * Files whose directory and content disagree were moved by hand. A legal move is recorded as a
   * transition `via: file` (pending → approved is an approval); an illegal one is left alone and
   * reported. The store is the one owner of this: the supervisor's pass, the executor's pass and
   * the watcher all ask it, the first to claim a file adopts it, and every adoption is announced
   * to the `onAdopted` listeners (an approval wakes the executor at once). While the directories
   * are watched, only the names a hint named since the last look are read (a file moved by hand
   * is one), and each directory is looked at whole at least every ActionIndex.FRESH_MS.
   */
  async adoptMoved(states: readonly ActionState[] = ACTION_STATES): Promise<string[]> {
    const done: string[] = [];
    for (const state of states) {
      const listed = this.hintedSince('adoption', state) ?? (await this.names(state));
      // Finished actions are published as <id>@<instance>.json; `mv` keeps the plain <id>.json
      // name, so only those need reading in the (large) finished directories.
      const names = listed.filter((name) => {
        const p = parseFileName(name);
        return p !== undefined && (isOpen(state) || !p.instance);
      });
      const read = await this.readMany(names.map((name) => this.file(state, name)));
      for (const [i, seen] of read.entries()) {
        const name = names[i]!;
        if (!seen || seen.state === state) continue;
        if (!canTransition(seen.state, state)) {
          done.push(`ignored ${state}/${name}: moved by hand from ${seen.state}, which is not a legal move`);
          continue;
        }
        const line = await this.mutation(() => this.adoptOne(state, name, seen));
        if (line) done.push(line);
      }
    }
    return done;
  }

  /** Adopts one file moved by hand into `state` (adoptMoved); undefined when another took it first or it is not one. */
  private async adoptOne(state: ActionState, name: string, seen: Action): Promise<string | undefined> {
    const dir = this.dir(state);
    const claim = path.join(dir, `.${seen.id}.${randomBytes(4).toString('hex')}.claim`);
    try {
      await this.changing([path.join(dir, name), claim], () => fs.rename(path.join(dir, name), claim));
    } catch {
      return undefined; // someone else adopted it first
    }
    // What the claim holds now (the file may have changed since it was listed).
    const a = await this.readAction(claim);
    if (!a || a.state === state || !canTransition(a.state, state)) {
      await this.restore(claim, path.join(dir, name));
      return undefined;
    }
    const at = new Date(this.now()).toISOString();
    const actor: Actor = { via: 'file', name: 'file' };
    const adopted: Action = {
      ...a,
      state,
      updated_at: at,
      ...(state === 'approved' ? { approved_by: actor } : {}),
      ...(state === 'rejected' ? { rejected_by: actor } : {}),
      ...(state === 'cancelled' ? { cancel_reason: 'cancelled_by_file' } : {}),
      history: [...a.history, { state, at, by: 'file', note: 'moved by hand' }],
    };
    let written: Written;
    try {
      written = await this.rewriteClaim(claim, adopted);
    } catch (err) {
      await this.restore(claim, path.join(dir, name)).catch(() => {});
      throw err;
    }
    await this.publishClaim(claim, adopted, written);
    for (const fn of this.adoptedListeners) fn(adopted);
    return `adopted ${a.id}: ${a.state} → ${state} by file`;
  }
}
