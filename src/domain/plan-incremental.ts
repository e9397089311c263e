// Incremental planning (docs/design/supervisor.md, "Incremental planning"): each node's part of
// the plan is kept with the inputs it was made from, and a pass plans again only the nodes whose
// inputs changed, whose part proposed or cancelled something (the store acts on it, so it changes
// next), or whose due time came (a grace, a backoff, a silence, a window: the times the rules
// noted). Everything else about the plan is worked out whole each time. The result is the plan
// plan() gives for the same input (a property test compares both over random histories); a full
// plan from scratch still runs every FULL_PLAN_MS.
import type { Action } from './actions.js';
import type { CooldownEntry } from './cooldowns.js';
import type { HealBudgets } from './heal-budget.js';
import { DueHeap } from './due-heap.js';
import { assemblePlan, CLOCK_STEP_GRACE_MS, orphaned, planNodeOf, planShared, type PlanShared } from './plan.js';
import { OpenIndexer, type NodePlan, type Plan, type PlanInput } from './plan-context.js';
import type { DesiredState, ServiceState, WorldNode } from './schemas.js';
import { nodeOfKey, type WorldChanges } from './world-render.js';

/** How often the plan is made from scratch, whatever changed (a safety net, not a need). */
export const FULL_PLAN_MS = 10 * 60_000;

/** What one node's part was made from. */
interface Kept {
  dn: DesiredState[string];
  node: WorldNode | undefined;
  /** The world's service objects of its watched services, in the desired state's order. */
  services: (ServiceState | undefined)[];
  open: readonly Action[];
  /** Its cooldowns, heals and windows of our own, as text. */
  rest: string;
  plan: NodePlan;
}

/** What every node's part depends on: any change of these plans every node again. */
interface Shared {
  desiredSince: PlanInput['desiredSince'];
  updates: PlanInput['updates'];
  skips: PlanInput['skips'];
  cfg: PlanInput['cfg'];
  learned: PlanInput['learned'];
  clockSteppedAt: number | undefined;
  windows: string;
}

export interface IncrementalResult extends Plan {
  /** Nodes planned again in this pass (the rest kept their part). */
  planned: number;
  full: boolean;
}

/** What the last plan saw of what the nodes' parts are made from, to tell which nodes changed since. */
interface Seen {
  desired: DesiredState;
  /** The objects `rest` was made from, and each node's cooldowns, heals and windows as text. */
  restOf: readonly unknown[];
  rest: Map<string, string>;
}

export class IncrementalPlanner {
  private kept = new Map<string, Kept>();
  /** The open actions' index, kept from one plan to the next (plan-context.ts). */
  private readonly indexer = new OpenIndexer();
  /** The open actions no node wants (plan.ts, `orphaned`), kept while the desired state and the holds are. */
  private orphans: { desired: DesiredState; held: PlanInput['held']; of: Set<Action> } | undefined;
  private shared: Shared | undefined;
  private fullAt = Number.NEGATIVE_INFINITY;
  /** The services record and the renderer's generation the last plan saw. */
  private seen: { record: PlanInput['world']['services']; generation: number } | undefined;
  /** The world's nodes record and the renderer's generation of its nodes the last plan saw. */
  private seenNodes: { record: PlanInput['world']['nodes']; generation: number } | undefined;
  private last: Seen | undefined;
  /** The kept parts' due times (a part may be in it at times that no longer hold: checked when taken out). */
  private readonly dues = new DueHeap<string>();
  /** The nodes whose kept part proposes or cancels something: planned again at the next pass. */
  private readonly acting = new Set<string>();
  /** The nodes whose kept part is not empty, in the order of the desired state: the plan is their parts. */
  private shown: string[] = [];

  constructor(private readonly fullEveryMs = FULL_PLAN_MS) {}

  /** The earliest time at which the clock alone changes a kept part (Infinity: none). */
  get nextDue(): number {
    return this.dues.next;
  }

  /**
   * `changes`: the renderer that made the world, when there is one (the observer's): then only
   * the nodes whose services it changed since the last plan have their services compared.
   */
  plan(input: PlanInput, changes?: WorldChanges): IncrementalResult {
    const shared = planShared(input, this.indexer.index(input.open));
    const now = input.now;
    const next: Shared = {
      desiredSince: input.desiredSince,
      updates: input.updates,
      skips: input.skips,
      cfg: input.cfg,
      learned: input.learned,
      clockSteppedAt: input.clockSteppedAt,
      windows: JSON.stringify([input.silences, input.maintenance ?? []]),
    };
    // Just after a step of the wall clock the rules read which notices are open: plan whole then.
    const stepped = input.clockSteppedAt !== undefined && now - input.clockSteppedAt < CLOCK_STEP_GRACE_MS;
    const full = stepped || !this.shared || !sameShared(this.shared, next) || now - this.fullAt >= this.fullEveryMs || now < this.fullAt;
    if (full) {
      this.kept.clear();
      this.fullAt = now;
    }
    this.shared = next;
    const record = input.world.services;
    const moved = changes && this.seen?.record === record ? changes.changedSince(this.seen.generation) : 'all';
    this.seen = changes ? { record, generation: changes.generation } : undefined;
    // The world nodes replaced since the last plan, when the renderer says (else each kept part's is checked).
    const nodesRecord = input.world.nodes;
    const nodesMoved = changes?.nodesChangedSince && this.seenNodes?.record === nodesRecord ? changes.nodesChangedSince(this.seenNodes.generation) : 'all';
    this.seenNodes = changes?.nodesChangedSince ? { record: nodesRecord, generation: changes.nodesGeneration ?? 0 } : undefined;
    const restOf = [input.cooldowns, input.heals, input.own];
    const last = this.last;
    const rest = last && sameList(last.restOf, restOf) ? last.rest : byNode(input);
    this.last = { desired: input.desired, restOf, rest };
    const counted = { planned: 0 };
    const part = (dn: DesiredState[string], servicesMoved: boolean): NodePlan => this.part(input, shared, dn, rest, servicesMoved, counted);
    const orphans = this.orphaned(input);
    // Every node looked at: whatever they share changed, the desired state (a reload), or which
    // services moved or which actions are open is not known by node.
    if (full || !last || last.desired !== input.desired || moved === 'all' || this.indexer.change === 'all') {
      const parts = Object.values(input.desired).map((dn) => part(dn, moved === 'all' || moved.has(dn.node)));
      for (const node of this.kept.keys()) if (!input.desired[node]) this.kept.delete(node);
      this.reindex(input.desired);
      return { ...assemblePlan(input, shared, parts, orphans), planned: counted.planned, full };
    }
    for (const node of this.touched(input, last, moved, nodesMoved, rest)) {
      const dn = input.desired[node];
      if (!dn) continue;
      const k = this.kept.get(node);
      if (part(dn, moved.has(node)) !== k?.plan) this.note(node, input.desired);
    }
    const parts = this.shown.map((node) => this.kept.get(node)!.plan);
    return { ...assemblePlan(input, shared, parts, orphans), planned: counted.planned, full };
  }

  /** A node's part: the kept one while nothing it is made from changed, else made again (and kept). */
  private part(input: PlanInput, shared: PlanShared, dn: DesiredState[string], rest: Map<string, string>, servicesMoved: boolean, counted: { planned: number }): NodePlan {
    const open = shared.open.byNode.get(dn.node) ?? [];
    const restText = rest.get(dn.node) ?? '';
    const k = this.kept.get(dn.node);
    if (k && !changed(k, input, dn, open, restText, servicesMoved)) {
      // A world node rendered anew that reads the same: kept as the one its part was made from.
      k.node = input.world.nodes[dn.node];
      return k.plan;
    }
    counted.planned++;
    const np = planNodeOf(input, shared, dn);
    this.kept.set(dn.node, { dn, node: input.world.nodes[dn.node], services: watched(dn).map((key) => input.world.services[key]), open, rest: restText, plan: np });
    if (np.due !== Infinity) this.dues.push(np.due, dn.node);
    return np;
  }

  /**
   * The nodes a part may have changed for since the last plan: their services moved, their open
   * actions, their world node object, their cooldowns, heals or windows; their part acts, or its
   * due time came. Any other node's inputs are the ones its part was made from.
   */
  private touched(input: PlanInput, last: Seen, moved: ReadonlySet<string>, nodesMoved: ReadonlySet<string> | 'all', rest: Map<string, string>): Set<string> {
    const out = new Set<string>(moved);
    for (const node of this.acting) out.add(node);
    const change = this.indexer.change;
    if (change !== 'all') for (const a of [...change.added, ...change.gone]) out.add(a.node);
    if (nodesMoved !== 'all') for (const node of nodesMoved) out.add(node);
    else {
      // The world's nodes record is changed in place (render-nodes.ts): one identity check per node.
      const nodes = input.world.nodes;
      for (const [node, k] of this.kept) if (nodes[node] !== k.node) out.add(node);
    }
    if (rest !== last.rest) {
      for (const [node, text] of rest) if (last.rest.get(node) !== text) out.add(node);
      for (const node of last.rest.keys()) if (!rest.has(node)) out.add(node);
    }
    this.dues.popDue(input.now, (node) => out.add(node));
    // Stale entries (parts made again since) beyond a few per node: the heap made anew from the parts.
    if (this.dues.size > 2 * this.kept.size + 64) this.reindex(input.desired);
    return out;
  }

  /** The open actions no node wants, in the listing's order; worked out whole only when the desired state, the holds or the listing's order moved. */
  private orphaned(input: PlanInput): Action[] {
    const change = this.indexer.change;
    const o = this.orphans;
    if (!o || o.desired !== input.desired || o.held !== input.held || change === 'all') {
      const list = input.open.filter((a) => orphaned(input, a));
      this.orphans = { desired: input.desired, held: input.held, of: new Set(list) };
      return list;
    }
    for (const a of change.gone) o.of.delete(a);
    for (const a of change.added) if (orphaned(input, a)) o.of.add(a);
    if (o.of.size === 0) return [];
    const place = (a: Action) => this.indexer.placeOf(a)!;
    return [...o.of].sort((x, y) => place(x) - place(y));
  }

  /** The acting and shown nodes and the due times, from every kept part. */
  private reindex(desired: DesiredState): void {
    this.acting.clear();
    this.dues.clear();
    this.shown = [];
    for (const dn of Object.values(desired)) {
      const p = this.kept.get(dn.node)?.plan;
      if (!p) continue;
      if (acts(p)) this.acting.add(dn.node);
      if (shows(p)) this.shown.push(dn.node);
      if (p.due !== Infinity) this.dues.push(p.due, dn.node);
    }
  }

  /** A node's part was made again: whether it acts, and whether (and where) it shows in the plan. */
  private note(node: string, desired: DesiredState): void {
    const p = this.kept.get(node)!.plan;
    if (acts(p)) this.acting.add(node);
    else this.acting.delete(node);
    const order = orderOf(desired);
    const at = order.get(node)!;
    let lo = 0;
    let hi = this.shown.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order.get(this.shown[mid]!)! < at) lo = mid + 1;
      else hi = mid;
    }
    const there = this.shown[lo] === node;
    if (shows(p) && !there) this.shown.splice(lo, 0, node);
    else if (!shows(p) && there) this.shown.splice(lo, 1);
  }
}

/** Whether a part proposes or cancels something (the store acts on it: planned again next pass). */
const acts = (p: NodePlan): boolean => p.create.length > 0 || p.cancel.length > 0;
/** Whether a part holds anything for the plan. */
const shows = (p: NodePlan): boolean => acts(p) || p.notices.length > 0;

/** Each node's place in a desired state's order, once per desired state object. */
const orders = new WeakMap<DesiredState, Map<string, number>>();
function orderOf(desired: DesiredState): Map<string, number> {
  let m = orders.get(desired);
  if (!m) {
    m = new Map(Object.values(desired).map((dn, i) => [dn.node, i]));
    orders.set(desired, m);
  }
  return m;
}

function sameShared(a: Shared, b: Shared): boolean {
  return a.desiredSince === b.desiredSince && a.updates === b.updates && a.skips === b.skips && a.cfg === b.cfg && a.learned === b.learned && a.clockSteppedAt === b.clockSteppedAt && a.windows === b.windows;
}

/** Whether a node's part must be made again. */
function changed(k: Kept, input: PlanInput, dn: DesiredState[string], open: readonly Action[], rest: string, servicesMoved: boolean): boolean {
  const p = k.plan;
  if (acts(p) || input.now >= p.due) return true;
  if (k.dn !== dn || k.rest !== rest || !sameList(k.open, open) || !sameNode(k.node, input.world.nodes[dn.node])) return true;
  // (Each kept part's services are the world's as of the last plan: only a change since can differ.)
  if (!servicesMoved) return false;
  const keys = watched(dn);
  for (let i = 0; i < keys.length; i++) if (input.world.services[keys[i]!] !== k.services[i]) return true;
  return false;
}

/** `node/service` of a node's watched services, once per desired node object. */
const watchedCache = new WeakMap<DesiredState[string], string[]>();
function watched(dn: DesiredState[string]): string[] {
  let keys = watchedCache.get(dn);
  if (!keys) {
    keys = Object.values(dn.services)
      .filter((s) => s.monitor)
      .map((s) => `${dn.node}/${s.service}`);
    watchedCache.set(dn, keys);
  }
  return keys;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * World nodes are rendered anew each time, field by field from the observer's model; their nested
 * values (agents, links) are replaced, never changed in place, so comparing fields is enough.
 */
function sameNode(a: WorldNode | undefined, b: WorldNode | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const ka = Object.keys(a) as (keyof WorldNode)[];
  if (ka.length !== Object.keys(b).length) return false;
  for (const key of ka) {
    const x = a[key];
    const y = b[key];
    if (x === y) continue;
    if (Array.isArray(x) && Array.isArray(y) && x.join('\n') === y.join('\n')) continue;
    return false;
  }
  return true;
}

/** Each node's cooldowns, heals and windows of our own, as text (they are few: past actions only). */
function byNode(input: PlanInput): Map<string, string> {
  const parts = new Map<string, unknown[]>();
  const add = (node: string, v: unknown) => {
    const list = parts.get(node);
    if (list) list.push(v);
    else parts.set(node, [v]);
  };
  for (const [id, e] of Object.entries(input.cooldowns) as [string, CooldownEntry][]) add(e.node, ['c', id, e]);
  for (const [key, rec] of Object.entries(input.heals ?? ({} as HealBudgets))) add(nodeOfKey(key), ['h', key, rec]);
  for (const [key, w] of Object.entries(input.own ?? {})) add(nodeOfKey(key), ['o', key, w]);
  const out = new Map<string, string>();
  for (const [node, list] of parts) out.set(node, JSON.stringify(list));
  return out;
}
