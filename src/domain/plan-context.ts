// What every rule of a plan shares (plan.ts, plan-update.ts): the inputs and the output's types,
// the index of the open actions, and one node's context — its output, its cancellations, and
// the times at which the clock alone could change it (docs/design/supervisor.md, "Incremental
// planning").
import type { z } from 'zod';
import type { Action, ActionType, Chain, HealBudgetSeen, Risk, UpdatePlan } from './actions.js';
import { cooldownUntil, type Cooldowns, type OwnWindow, type PlanConfig } from './cooldowns.js';
import type { DependencyEdge } from './dependencies.js';
import type { HealBudgets } from './heal-budget.js';
import type { DesiredProblemRef, Notice } from './plan-notices.js';
import type { DesiredState, World } from './schemas.js';
import type { Silence } from './silences.js';
import { sharedEnds } from './shared-ends.js';
import type { Skips, Updates } from './updates.js';

export interface ActionDraft {
  id: string;
  instance: string;
  type: ActionType;
  risk: Risk;
  node: string;
  service: string | null;
  drift: 'missing_service' | 'unhealthy_service' | 'disk_pressure' | 'outdated_image';
  trigger: string;
  containers: string[];
  /** Since when the drift holds (world time), when known. */
  drift_since: string | null;
  /** An image_update's images. */
  update?: UpdatePlan;
  /** A root cause's dependents, healed after it. */
  chain?: Chain;
  /** The service's restart budget (restarts and redeploys). */
  budget?: z.infer<typeof HealBudgetSeen>;
}

export interface Cancel {
  id: string;
  instance: string;
  reason: 'drift_resolved_auto' | 'service_removed_from_desired_state' | 'superseded' | 'updates_off' | 'version_skipped' | 'covered_by_root';
}

export interface PlanInput {
  desired: DesiredState;
  world: World;
  open: readonly Action[];
  cooldowns: Cooldowns;
  silences: readonly Silence[];
  /** node → services whose removal waits for an operator's confirmation. */
  held: Readonly<Record<string, readonly string[]>>;
  desiredProblems: readonly DesiredProblemRef[];
  now: number;
  cfg?: PlanConfig;
  /** What the update checks found (world/updates.json), by `node/service`. */
  updates?: Updates;
  /** Digests not to propose again, by `node/service`. */
  skips?: Skips;
  /** When our own actions were acting on each service (`node/service`): not flapping (ownWindows). */
  own?: Readonly<Record<string, readonly OwnWindow[]>>;
  /** When each watched `node/service` appeared in the desired state (desiredSince); '' or absent: long ago. */
  desiredSince?: Readonly<Record<string, string>>;
  /** When the wall clock last stepped (the supervisor tells it from the monotonic clock). */
  clockSteppedAt?: number;
  /** The notices open now (their keys): one open before a step of the clock stays as it is. */
  openNotices?: ReadonlySet<string>;
  /** Ad hoc maintenance in force (state/maintenance.json); windows are the desired state's. */
  maintenance?: readonly Silence[];
  /** Heals carried out per `node/service` since their last reset (domain/heal-budget.ts). */
  heals?: HealBudgets;
  /** Dependencies the engine reported, by node (world: learned edges). */
  learned?: Readonly<Record<string, readonly DependencyEdge[]>>;
}

export interface Plan {
  create: ActionDraft[];
  cancel: Cancel[];
  notices: Notice[];
}

/** One node's part of a plan, and the first time after `now` at which the clock alone could change it. */
export interface NodePlan extends Plan {
  /** Epoch ms; Infinity: only a change of the node's inputs changes it. */
  due: number;
}

/** The open actions by id and by `node/service`, worked out once per plan. */
export interface OpenIndex {
  byId: Map<string, Action>;
  byService: Map<string, Action[]>;
  byNode: Map<string, Action[]>;
}

/** `node/service` of an action (service '' for a node's own), made once per parsed object. */
const serviceKeys = new WeakMap<Action, string>();
export function serviceKeyOf(a: Action): string {
  let k = serviceKeys.get(a);
  if (k === undefined) serviceKeys.set(a, (k = `${a.node}/${a.service ?? ''}`));
  return k;
}

export function indexOpen(open: readonly Action[]): OpenIndex {
  const ix: OpenIndex = { byId: new Map(), byService: new Map(), byNode: new Map() };
  for (const a of open) {
    ix.byId.set(a.id, a);
    push(ix.byService, serviceKeyOf(a), a);
    push(ix.byNode, a.node, a);
  }
  return ix;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/**
 * indexOpen's index kept from one listing to the next (the supervisor's): a listing that differs
 * from the last by a few actions (the same parsed objects, in the same order, and some new or
 * gone) rebuilds the entries of those actions' nodes, services and ids; every other entry, and
 * its list object, stays as it was. Any other listing is indexed whole. The lists are never
 * changed once handed out (a new list replaces one).
 */
export class OpenIndexer {
  private ix: OpenIndex = indexOpen([]);
  /** The last listing (a copy: the next one is compared with it object by object). */
  private last: readonly Action[] = [];
  /**
   * Each action of the last listing by its place: increasing along the listing, not its index (a
   * new action gets a place between its neighbours', so that the others keep theirs).
   */
  private readonly place = new Map<Action, number>();
  private repeated = false;
  /** Every listed action of an id (byId holds the last of the listing's order). */
  private byIdAll = new Map<string, Action[]>();
  /** What the last listing changed: the actions that came and went, or 'all' (not known: the order moved, or an object was there twice). */
  change: { added: readonly Action[]; gone: readonly Action[] } | 'all' = 'all';

  /** An action's place in the last listing (undefined: not in it); places increase along the listing. */
  placeOf(a: Action): number | undefined {
    return this.place.get(a);
  }

  index(open: readonly Action[]): OpenIndex {
    const prev = this.last;
    this.last = open.slice();
    // Only the part between what the two listings share at their start and end is looked at (a
    // thousand open actions, a few of them new or gone).
    const { start: p, end: e } = sharedEnds(prev, open);
    const mid = this.middle(prev.slice(p, prev.length - e), open, p, open.length - e);
    if (mid === 'whole') {
      // The same object twice, or two kept ones in another order: indexed whole.
      this.change = 'all';
      this.place.clear();
      // A listing with the same object twice makes the next one whole too (its lists hold it twice).
      this.repeated = false;
      open.forEach((a, i) => {
        if (this.place.has(a)) this.repeated = true;
        this.place.set(a, i);
      });
      return this.rebuild(open);
    }
    const { added, gone } = mid;
    for (const a of gone) this.place.delete(a);
    this.change = { added, gone };
    if (added.length + gone.length > open.length / 2) return this.rebuild(open);
    const changed = [...added, ...gone];
    // The entries of what came and went, made anew (in place: an index lives for one plan).
    const byPlace = (x: Action, y: Action) => this.place.get(x)! - this.place.get(y)!;
    const redo = <K>(m: Map<K, Action[]>, of: (a: Action) => K) => {
      for (const k of new Set(changed.map(of))) {
        const list = (m.get(k) ?? []).filter((a) => this.place.has(a));
        for (const a of added) if (of(a) === k) list.push(a);
        if (list.length === 0) m.delete(k);
        else m.set(k, list.sort(byPlace));
      }
    };
    redo(this.ix.byNode, (a) => a.node);
    redo(this.ix.byService, serviceKeyOf);
    redo(this.byIdAll, (a) => a.id);
    for (const a of changed) {
      const all = this.byIdAll.get(a.id);
      if (all) this.ix.byId.set(a.id, all[all.length - 1]!);
      else this.ix.byId.delete(a.id);
    }
    return this.ix;
  }

  /**
   * The actions of `open[from, to)` that are new and those of `before` (the last listing's part
   * there) that are gone, new ones given places between their neighbours'; 'whole' when an action
   * is listed twice or the kept ones changed order.
   */
  private middle(before: readonly Action[], open: readonly Action[], from: number, to: number): { added: Action[]; gone: Action[] } | 'whole' {
    if (this.repeated) return 'whole';
    const was = new Set(before);
    const kept = new Set<Action>();
    const added: Action[] = [];
    const fresh = new Set<Action>();
    let lastPlace = Number.NEGATIVE_INFINITY;
    for (let i = from; i < to; i++) {
      const a = open[i]!;
      if (was.has(a)) {
        if (kept.has(a)) return 'whole';
        kept.add(a);
        const at = this.place.get(a)!;
        if (at < lastPlace) return 'whole';
        lastPlace = at;
      } else if (this.place.has(a) || fresh.has(a)) return 'whole';
      else {
        added.push(a);
        fresh.add(a);
      }
    }
    if (added.length > 0) this.placeNew(open, from, to, fresh);
    return { added, gone: before.filter((a) => !kept.has(a)) };
  }

  /** Places for the new actions of `open[from, to)`, each run of them between its neighbours' (all made anew when too close). */
  private placeNew(open: readonly Action[], from: number, to: number, fresh: ReadonlySet<Action>): void {
    let lo = from > 0 ? this.place.get(open[from - 1]!) : undefined;
    for (let i = from; i < to; ) {
      if (!fresh.has(open[i]!)) {
        lo = this.place.get(open[i++]!);
        continue;
      }
      let j = i;
      while (j < to && fresh.has(open[j]!)) j++;
      const next = open[j];
      const hi = next === undefined ? undefined : this.place.get(next);
      const run = j - i;
      const a = lo ?? (hi !== undefined ? hi - run - 1 : 0);
      const step = ((hi ?? a + run + 1) - a) / (run + 1);
      if (!(step > 1e-6)) {
        open.forEach((x, k) => this.place.set(x, k));
        return;
      }
      for (let k = 0; k < run; k++) this.place.set(open[i + k]!, a + step * (k + 1));
      lo = this.place.get(open[j - 1]!);
      i = j;
    }
  }

  private rebuild(open: readonly Action[]): OpenIndex {
    this.ix = indexOpen(open);
    this.byIdAll = new Map();
    for (const a of open) push(this.byIdAll, a.id, a);
    return this.ix;
  }
}

/** What one node's rules share: the inputs, the open actions, the node's output. */
export interface PlanContext {
  input: PlanInput;
  cfg: PlanConfig;
  instance: string;
  out: NodePlan;
  open: OpenIndex;
  cancel: (a: Action, reason: Cancel['reason']) => void;
  /** Whether `id`'s cooldown still runs (its end noted as a due time). */
  blocked: (id: string) => boolean;
  /** Notes a time at which an answer of the rules changes by the clock alone (ignored unless after now). */
  due: (t: number) => void;
}

export function nodeContext(input: PlanInput, cfg: PlanConfig, instance: string, open: OpenIndex): PlanContext {
  const out: NodePlan = { create: [], cancel: [], notices: [], due: Infinity };
  const cancelled = new Set<string>();
  const due = (t: number) => {
    if (t > input.now && t < out.due) out.due = t;
  };
  return {
    input,
    cfg,
    instance,
    out,
    open,
    cancel: (a, reason) => {
      if (a.state !== 'pending' || cancelled.has(a.id)) return;
      cancelled.add(a.id);
      out.cancel.push({ id: a.id, instance: a.instance, reason });
    },
    blocked: (id) => {
      const until = cooldownUntil(input.cooldowns[id], cfg);
      due(until);
      return input.now < until;
    },
    due,
  };
}
