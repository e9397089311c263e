// The actions in JetStream KV, when NATS_URL is set (docs/design/claims.md, "Actions in JetStream
// KV"): bucket HOMELAB_ACTIONS, one key per action instance (`a.<id>.<instance>`), and one key per
// id naming its open instance (`o.<id>`). Every transition is a compare-and-set on the instance's
// revision, so of several racers exactly one wins, as rename(2) decides it for the files; creating
// an action first takes the id's open key (create fails when it exists), so an id is never open
// twice. Reads answer from the bucket as this process last heard it (kv-actions-cache.ts).
import type { KV, NatsConnection } from 'nats';
import { ACTION_STATES, ACTION_TYPES, canTransition, isOpen, OPEN_STATES, parseFileName, TERMINAL_STATES, type Action, type ActionState, type ActionType } from '../domain/actions.js';
import type { ActionDraft } from '../domain/plan.js';
import type { Logger } from '../log.js';
import { DEFAULT_QUERY_LIMIT, newAction, TransitionError, type ActionBackend, type ActionQuery, type TransitionRequest } from '../store/action-backend.js';
import { byTime, oldestFirst } from '../store/open-listing.js';
import { stableJson } from '../store/atomic.js';
import type { Clock } from '../time/clock.js';
import { actionKey, ActionsCache, openKey, type Held, type OpenPointer } from './kv-actions-cache.js';
import { KvFollower } from './kv-follow.js';
import { lostRace, openBucket } from './kv-bucket.js';

export const ACTIONS_BUCKET = 'HOMELAB_ACTIONS';
/** A pointer to an instance that was never written is a creation a crash cut short: taken over after this. */
const CREATION_ABANDONED_MS = 60_000;
/** Compare-and-set attempts before a transition says `conflict` (each lost one re-reads the entry). */
const CAS_ATTEMPTS = 20;

const newestFirst = byTime((a) => a.updated_at, -1);
const encode = (v: unknown) => new TextEncoder().encode(stableJson(v));


export class KvActionStore implements ActionBackend {
  private readonly cache = new ActionsCache();
  private readonly follower: KvFollower;
  private kv: KV | undefined;
  private readonly changed: ((a: Action | undefined) => void)[] = [];

  constructor(private readonly deps: { log: Logger; clock: Clock; now?: () => number }) {
    this.follower = new KvFollower({ bucket: ACTIONS_BUCKET, cache: this.cache, log: deps.log, clock: deps.clock, onChange: (a) => this.changed.forEach((fn) => fn(a)),
      // What a crash left (an open key of a finished instance) is finished once the bucket is read.
      onLoaded: () =>
        void this.recover().then(
          (lines) => lines.forEach((line) => deps.log.warn(line)),
          (err: unknown) => deps.log.error({ err }, `cannot finish what a crash left in ${ACTIONS_BUCKET}`),
        ),
    });
  }

  private now(): number {
    return (this.deps.now ?? this.deps.clock.now)();
  }

  /** Opens (or makes) the bucket on this connection and follows it; `ready` once its entries are read. */
  begin(nc: NatsConnection): void {
    this.follower.begin(nc, async () => (this.kv = await openBucket(nc, ACTIONS_BUCKET)));
  }

  /** Resolves once the bucket's entries are read (or rejects after `ms`). */
  ready(ms: number): Promise<void> {
    return this.follower.ready(ms);
  }

  get loaded(): boolean {
    return this.follower.loaded;
  }

  /** Why the actions cannot be read yet. */
  unavailable(): Error {
    return this.follower.unavailable();
  }

  /**
   * Tells `fn` of every change heard of from the bucket that this process did not write itself
   * (an approval by the CLI, by another control plane), with the action when the change is one.
   */
  onChange(fn: (a: Action | undefined) => void): void {
    this.changed.push(fn);
  }

  async stop(): Promise<void> {
    await this.follower.stop();
  }

  private bucket(): KV {
    if (!this.kv || !this.follower.loaded) throw this.follower.unavailable();
    return this.kv;
  }

  private held(): ActionsCache {
    if (!this.follower.loaded) throw this.follower.unavailable();
    return this.cache;
  }

  /** The entry as the server has it now (after a lost compare-and-set). */
  private async fresh(key: string): Promise<void> {
    const e = await this.bucket().get(key);
    if (e) this.cache.apply(key, e.revision, e.operation === 'PUT' ? e.value : undefined, e.created.getTime());
  }

  /** The open instance of `id` with its revision, or undefined when none is open. */
  private open(id: string): { key: string; held: Held<Action> } | undefined {
    const p = this.held().pointer(id);
    if (!p) return undefined;
    const key = actionKey(id, p.value.instance);
    const held = this.cache.action(key);
    return held && isOpen(held.value.state) ? { key, held } : undefined;
  }

  async create(draft: ActionDraft, by = 'supervisor'): Promise<Action | undefined> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      if (attempt > 0) await this.fresh(openKey(draft.id));
      const p = this.held().pointer(draft.id);
      if (p && this.busy(p)) return undefined;
      let instance = draft.instance;
      for (let n = 1; this.cache.action(actionKey(draft.id, instance)); n++) instance = `${draft.instance}-${n}`;
      if (!(await this.takeOpenKey(draft.id, instance, p))) continue;
      const action = newAction(draft, instance, new Date(this.now()).toISOString(), by);
      if (await this.writeInstance(action)) return action;
      await this.fresh(actionKey(draft.id, instance)); // an instance of that name exists: the next one
    }
    throw new TransitionError(`${draft.id}: the bucket kept changing while the action was created`, 'conflict');
  }

  /** Names `instance` as the open one of `id` (over the key `p` held); false when another writer came first. */
  private async takeOpenKey(id: string, instance: string, p: Held<OpenPointer> | undefined): Promise<boolean> {
    const pointer: OpenPointer = { id, instance, at: this.now() };
    try {
      const rev = p ? await this.bucket().update(openKey(id), encode(pointer), p.rev) : await this.bucket().create(openKey(id), encode(pointer));
      this.cache.applyPointer(openKey(id), rev, pointer);
      return true;
    } catch (err) {
      if (lostRace(err)) return false;
      throw err;
    }
  }

  /** Writes a new instance's key; false when one of that name exists already. */
  private async writeInstance(a: Action): Promise<boolean> {
    const key = actionKey(a.id, a.instance);
    try {
      this.cache.applyAction(key, await this.bucket().create(key, encode(a)), a);
      return true;
    } catch (err) {
      if (lostRace(err)) return false;
      throw err;
    }
  }

  /** Whether the pointer's instance is open, or being created right now. */
  private busy(p: Held<OpenPointer>): boolean {
    const a = this.cache.action(actionKey(p.value.id, p.value.instance));
    if (a) return isOpen(a.value.state);
    return this.now() - p.value.at < CREATION_ABANDONED_MS;
  }

  async transition(req: TransitionRequest): Promise<Action> {
    if (!canTransition(req.from, req.to)) throw new TransitionError(`cannot move an action from ${req.from} to ${req.to}`, 'illegal');
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      // After a lost compare-and-set, and before any refusal: the entry as the server has it.
      if (attempt > 0) await this.refresh(req.id);
      const cur = this.open(req.id);
      const refused = await this.refusal(req, cur?.held.value);
      if (refused || !cur) {
        if (attempt === 0) continue;
        throw refused;
      }
      const a = cur.held.value;
      const at = new Date(this.now()).toISOString();
      const next: Action = { ...a, ...req.patch, state: req.to, updated_at: at, history: [...a.history, { state: req.to, at, by: req.by, ...(req.note ? { note: req.note } : {}) }] };
      let rev: number;
      try {
        rev = await this.bucket().update(cur.key, encode(next), cur.held.rev);
      } catch (err) {
        if (lostRace(err)) continue;
        // No answer (a timeout while a cluster elects): the write may have landed all the same.
        if (!(await this.landed(cur.key, next))) throw err;
        return this.moved(next);
      }
      this.cache.applyAction(cur.key, rev, next);
      return this.moved(next);
    }
    throw new TransitionError(`${req.id}: the bucket kept changing while it moved`, 'conflict');
  }

  /** A transition done: a finished action frees its id. */
  private async moved(a: Action): Promise<Action> {
    if (!isOpen(a.state)) await this.release(a);
    return a;
  }

  /**
   * Whether a write whose answer was lost landed: the entry as the server has it now is exactly
   * what was written (the same state, time, actor and patch). A claim whose acknowledgement was
   * lost is then the caller's, not refused as "already running" and left to no one.
   */
  private async landed(key: string, written: Action): Promise<boolean> {
    // Compared by content: what the watch brought was parsed (its keys in the schema's order),
    // what was written kept the order of the action it was made from.
    const want = sortedJson(written);
    const holds = (): boolean => {
      const held = this.cache.action(key);
      return held !== undefined && sortedJson(held.value) === want;
    };
    // The watch may have brought it already; else the server is asked, again when it does not
    // answer in time either (a loaded host, an election): three times, then the caller's error stands.
    for (let ask = 0; ask < 3 && !holds(); ask++) {
      try {
        await this.fresh(key);
        return holds();
      } catch {
        /* no answer again */
      }
    }
    return holds();
  }

  /** Why `req` cannot move the open action `a` (undefined: it can). */
  private async refusal(req: TransitionRequest, a: Action | undefined): Promise<TransitionError | undefined> {
    if (a?.state === req.from) {
      if (req.instance === undefined || a.instance === req.instance) return undefined;
      return new TransitionError(`${req.id}: instance ${req.instance} is no longer open (now ${a.instance}, ${a.state})`, 'stale_instance', a);
    }
    const current = a ?? (await this.get(req.id));
    if (!current) return new TransitionError(`no action ${req.id}`, 'not_found');
    return new TransitionError(`${req.id} is ${current.state}, not ${req.from}`, 'wrong_state', current);
  }

  private async refresh(id: string): Promise<void> {
    await this.fresh(openKey(id));
    const p = this.cache.pointer(id);
    if (p) await this.fresh(actionKey(id, p.value.instance));
  }

  /** A finished action's id is free again: its open key goes (unless a newer instance took it). */
  private async release(a: Action): Promise<void> {
    const p = this.cache.pointer(a.id);
    if (!p || p.value.instance !== a.instance) return;
    // Lost to a newer instance, or the server away: the key names a finished instance, which counts as free.
    await this.bucket()
      .delete(openKey(a.id), { previousSeq: p.rev })
      .catch(() => undefined);
  }

  async annotate(state: ActionState, a: Action, patch: Record<string, unknown>): Promise<Action | undefined> {
    if (isOpen(state)) throw new Error('only finished actions are annotated; open ones move by transition');
    const key = actionKey(a.id, a.instance);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      if (attempt > 0) await this.fresh(key);
      const cur = this.held().action(key);
      if (!cur || cur.value.state !== state) return undefined;
      const updated: Action = { ...cur.value, ...patch, updated_at: new Date(this.now()).toISOString() };
      try {
        this.cache.applyAction(key, await this.bucket().update(key, encode(updated), cur.rev), updated);
        return updated;
      } catch (err) {
        if (!lostRace(err)) throw err;
      }
    }
    throw new TransitionError(`${a.id}: the bucket kept changing while it was annotated`, 'conflict');
  }

  async find(id: string, instance: string): Promise<Action | undefined> {
    const key = actionKey(id, instance);
    // Not heard of yet (written by another process a moment ago): asked of the server.
    if (!this.held().action(key)) await this.fresh(key);
    return this.cache.action(key)?.value;
  }

  async get(id: string): Promise<Action | undefined> {
    const open = this.open(id);
    if (open) return open.held.value;
    let newest: Action | undefined;
    for (const a of this.cache.instances(id)) if (!isOpen(a.state) && (!newest || a.updated_at > newest.updated_at)) newest = a;
    return newest;
  }

  async history(id: string): Promise<Action[]> {
    return this.held()
      .instances(id)
      .sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  }

  async query(q: ActionQuery = {}): Promise<{ actions: Action[]; total: number }> {
    const out: Action[] = [];
    for (const s of q.states ?? OPEN_STATES) {
      for (const a of this.held().inState(s)) {
        if (q.id !== undefined && a.id !== q.id) continue;
        if (q.node !== undefined && a.node !== q.node) continue;
        if (q.service !== undefined && a.service !== q.service) continue;
        if (q.since !== undefined && a.updated_at <= q.since) continue;
        out.push(a);
      }
    }
    out.sort(q.order === 'oldest' ? oldestFirst : newestFirst);
    return { actions: out.slice(0, q.limit ?? DEFAULT_QUERY_LIMIT), total: out.length };
  }

  async list(state: ActionState): Promise<Action[]> {
    return (await this.query({ states: [state], order: 'oldest', limit: Infinity })).actions;
  }

  async listOpen(): Promise<Action[]> {
    return (await this.query({ states: OPEN_STATES, order: 'oldest', limit: Infinity })).actions;
  }

  /** Nothing is ever between two states here: a transition is one compare-and-set. */
  listOpenOrMoving(): Promise<Action[]> {
    return this.listOpen();
  }

  async finishedSince(sinceIso: string, limit = 500): Promise<Action[]> {
    return (await this.query({ states: TERMINAL_STATES, since: sinceIso, limit })).actions;
  }

  async finishedBefore(beforeMs: number): Promise<Action[]> {
    const out: Action[] = [];
    for (const s of TERMINAL_STATES) for (const a of this.held().inState(s)) if (Date.parse(a.finished_at ?? a.updated_at) < beforeMs) out.push(a);
    return out;
  }

  /** The names the file store would give them (`<id>@<instance>.json`), for the supervisor's outcome count. */
  async finishedNames(states: readonly ActionState[]): Promise<{ state: ActionState; name: string }[]> {
    const out: { state: ActionState; name: string }[] = [];
    for (const state of states) for (const a of this.held().inState(state)) if (!isOpen(state)) out.push({ state, name: `${a.id}@${a.instance}.json` });
    return out;
  }

  async read(state: ActionState, name: string): Promise<Action | undefined> {
    const p = parseFileName(name);
    if (!p?.instance) return undefined;
    const a = this.held().action(actionKey(p.id, p.instance))?.value;
    return a?.state === state ? a : undefined;
  }

  async counts(): Promise<Record<ActionState, number>> {
    const cache = this.held();
    return Object.fromEntries(ACTION_STATES.map((s) => [s, cache.count(s)])) as Record<ActionState, number>;
  }

  async countsByType(): Promise<{ state: ActionState; type: ActionType; n: number }[]> {
    const out: { state: ActionState; type: ActionType; n: number }[] = [];
    for (const state of ACTION_STATES) {
      const all = [...this.held().inState(state)];
      for (const type of ACTION_TYPES) out.push({ state, type, n: all.filter((a) => a.type === type).length });
    }
    return out;
  }

  async removeFinished(a: Action): Promise<void> {
    if (isOpen(a.state)) throw new Error(`only finished actions are removed; ${a.id} is ${a.state}`);
    const key = actionKey(a.id, a.instance);
    await this.bucket().purge(key);
    await this.fresh(key);
  }

  /**
   * Brings one action over from the files (`control-plane nats import`), as it is: an instance the
   * bucket holds already is left alone, and an open one whose id is open here already is not
   * brought (an id is never open twice).
   */
  async importAction(a: Action): Promise<'imported' | 'present' | 'id open here'> {
    const key = actionKey(a.id, a.instance);
    if (this.held().action(key)) return 'present';
    if (isOpen(a.state)) {
      const p = this.cache.pointer(a.id);
      if ((p && this.busy(p)) || !(await this.takeOpenKey(a.id, a.instance, p))) return 'id open here';
    }
    return (await this.writeInstance(a)) ? 'imported' : 'present';
  }

  changeMark(): number | undefined {
    return this.follower.loaded ? this.cache.mark : undefined;
  }

  /** Entries change only through this store: nothing is moved by hand. */
  async adoptMoved(): Promise<string[]> {
    return [];
  }

  onAdopted(): void {}

  /** Open keys of ids whose instance finished (a crash between its last move and the key's removal) go. */
  async recover(): Promise<string[]> {
    const done: string[] = [];
    for (const a of TERMINAL_STATES.flatMap((s) => [...this.held().inState(s)])) {
      const p = this.cache.pointer(a.id);
      if (p?.value.instance !== a.instance) continue;
      await this.release(a);
      done.push(`released ${a.id}: its instance ${a.instance} is ${a.state}`);
    }
    if (this.cache.unreadable) done.push(`${this.cache.unreadable} entries of ${ACTIONS_BUCKET} are not actions; not read`);
    return done;
  }
}

/** JSON with every object's keys sorted: equal for equal content, whatever order the keys came in. */
function sortedJson(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}
