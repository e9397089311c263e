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
import { assemblePlan, CLOCK_STEP_GRACE_MS, planNodeOf, planShared } from './plan.js';
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

export class IncrementalPlanner {
  private kept = new Map<string, Kept>();
  /** The open actions' index, kept from one plan to the next (plan-context.ts). */
  private readonly indexer = new OpenIndexer();
  private shared: Shared | undefined;
  private fullAt = Number.NEGATIVE_INFINITY;
  /** The services record and the renderer's generation the last plan saw. */
  private seen: { record: PlanInput['world']['services']; generation: number } | undefined;

  constructor(private readonly fullEveryMs = FULL_PLAN_MS) {}

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
    const rest = byNode(input);
    let planned = 0;
    const seen = new Set<string>();
    const result = assemblePlan(input, shared, (dn) => {
      seen.add(dn.node);
      const open = shared.open.byNode.get(dn.node) ?? [];
      const restText = rest.get(dn.node) ?? '';
      const k = this.kept.get(dn.node);
      if (k && !changed(k, input, dn, open, restText, moved === 'all' || moved.has(dn.node))) return k.plan;
      planned++;
      const np = planNodeOf(input, shared, dn);
      this.kept.set(dn.node, { dn, node: input.world.nodes[dn.node], services: watched(dn).map((key) => input.world.services[key]), open, rest: restText, plan: np });
      return np;
    });
    for (const node of this.kept.keys()) if (!seen.has(node)) this.kept.delete(node);
    return { ...result, planned, full };
  }
}

function sameShared(a: Shared, b: Shared): boolean {
  return a.desiredSince === b.desiredSince && a.updates === b.updates && a.skips === b.skips && a.cfg === b.cfg && a.learned === b.learned && a.clockSteppedAt === b.clockSteppedAt && a.windows === b.windows;
}

/** Whether a node's part must be made again. */
function changed(k: Kept, input: PlanInput, dn: DesiredState[string], open: readonly Action[], rest: string, servicesMoved: boolean): boolean {
  const p = k.plan;
  if (p.create.length > 0 || p.cancel.length > 0 || input.now >= p.due) return true;
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
