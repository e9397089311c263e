// A restart budget per service (docs/design/supervisor.md, "Heal budget"): heals (restart or
// recreate actions carried out, approved by a person or by policy) are counted per service since
// the last reset; each waits `backoff`, doubling up to `max_backoff`, after the one before; past
// `attempts` nothing is approved by policy and one escalation asks a person, with what each heal
// found. Healthy for `reset_after` after the last heal resets the count. Pure.
import type { z } from 'zod';
import type { Action, HealSeen } from './actions.js';
import type { CooldownEntry } from './cooldowns.js';
import type { DesiredState, HealPolicy, World } from './schemas.js';

/** One heal carried out (its schema: actions.ts HealSeen). */
export type HealEntry = z.infer<typeof HealSeen>;

/** Per `node/service`: the heals since the last reset, oldest first. */
export type HealBudgets = Record<string, { heals: HealEntry[] }>;

/** Heals kept per service (the newest): enough for any budget an operator writes. */
const KEPT = 20;

const HEAL_TYPES = new Set(['container_restart', 'redeploy']);

/**
 * Records each restart or redeploy that was carried out (completed or failed) and not recorded
 * yet, and resets a service healthy for its `reset_after` since its last heal.
 */
export function updateHealBudgets(prev: HealBudgets, finished: readonly Action[], world: World, policyOf: (key: string) => HealPolicy, now: number, factsOf: (a: Action) => string[] | undefined = () => undefined): HealBudgets {
  const next: HealBudgets = {};
  for (const [k, v] of Object.entries(prev)) next[k] = { heals: [...v.heals] };
  const heals = finished
    .filter((a) => HEAL_TYPES.has(a.type) && a.service && a.started_at && (a.state === 'completed' || a.state === 'failed'))
    .sort((x, y) => ((x.finished_at ?? x.updated_at) < (y.finished_at ?? y.updated_at) ? -1 : 1));
  for (const a of heals) {
    const key = `${a.node}/${a.service}`;
    const rec = (next[key] ??= { heals: [] });
    if (rec.heals.some((h) => h.id === a.id && h.instance === a.instance)) continue;
    const facts = factsOf(a);
    rec.heals.push({ id: a.id, instance: a.instance, type: a.type, at: a.finished_at ?? a.updated_at, outcome: a.state as 'completed' | 'failed', ...(a.error ? { error: a.error.slice(0, 300) } : {}), ...(facts?.length ? { facts: facts.slice(0, 4) } : {}) });
    rec.heals.sort((x, y) => (x.at < y.at ? -1 : 1));
    if (rec.heals.length > KEPT) rec.heals.splice(0, rec.heals.length - KEPT);
  }
  for (const [key, rec] of Object.entries(next)) {
    const last = rec.heals.at(-1);
    const w = world.services[key];
    if (!last) {
      delete next[key];
      continue;
    }
    // Healthy since the last heal (or since before it), for reset_after: a new start.
    const healthySince = w?.status === 'healthy' ? Math.max(Date.parse(w.since), Date.parse(last.at)) : NaN;
    if (Number.isFinite(healthySince) && now - healthySince >= policyOf(key).resetAfterMs) delete next[key];
  }
  return next;
}

export interface Budget {
  /** Heals that count now. */
  used: number;
  attempts: number;
  remaining: number;
  /** No automatic heal before this (epoch ms; 0: none to wait for). */
  nextAt: number;
  /** Past `attempts`: nothing is approved by policy; a person is asked. */
  spent: boolean;
  /** The heals that count, oldest first. */
  heals: HealEntry[];
}

export function budgetOf(rec: { heals: readonly HealEntry[] } | undefined, policy: HealPolicy, now: number): Budget {
  const heals = (rec?.heals ?? []).filter((h) => policy.withinMs === null || now - Date.parse(h.at) < policy.withinMs);
  const used = heals.length;
  const last = heals.at(-1);
  const wait = used > 0 ? Math.min(policy.backoffMs * 2 ** Math.min(used - 1, 30), policy.maxBackoffMs) : 0;
  return { used, attempts: policy.attempts, remaining: Math.max(0, policy.attempts - used), nextAt: last ? Date.parse(last.at) + wait : 0, spent: used >= policy.attempts, heals };
}

/**
 * Whether a restart or redeploy for the service must wait: after a rejection (or an operator's
 * cancel), the backoff of its count; after a heal, the budget's backoff — unless the budget is
 * spent, when a person is asked at once.
 */
export function healHeld(entry: CooldownEntry | undefined, budget: Budget, policy: HealPolicy, now: number): boolean {
  // (An entry from before budgets, without its outcome, holds as it always did.)
  if (entry && entry.count > 0 && (entry.last_outcome === undefined || entry.last_outcome === 'rejected' || entry.last_outcome === 'cancelled')) {
    const wait = Math.min(policy.backoffMs * 2 ** Math.min(entry.count - 1, 30), policy.maxBackoffMs);
    if (now < Date.parse(entry.last_at) + wait) return true;
  }
  return !budget.spent && now < budget.nextAt;
}

/**
 * The times at which budgetOf and healHeld may answer otherwise by the clock alone: a heal leaving
 * the `within` window, the end of a backoff (for every count of heals that may still hold), the
 * end of a rejection's hold. Incremental planning wakes the service's node then.
 */
export function healTimes(entry: CooldownEntry | undefined, rec: { heals: readonly HealEntry[] } | undefined, policy: HealPolicy): number[] {
  const out: number[] = [];
  if (entry && entry.count > 0) out.push(Date.parse(entry.last_at) + Math.min(policy.backoffMs * 2 ** Math.min(entry.count - 1, 30), policy.maxBackoffMs));
  const heals = rec?.heals ?? [];
  if (policy.withinMs !== null) for (const h of heals) out.push(Date.parse(h.at) + policy.withinMs);
  // The newest heal's backoff, for every count of heals the window may leave by then.
  const last = heals.at(-1);
  if (last) for (let used = 1; used <= heals.length; used++) out.push(Date.parse(last.at) + Math.min(policy.backoffMs * 2 ** Math.min(used - 1, 30), policy.maxBackoffMs));
  return out;
}

/** One service's restart budget, as the page, /summary and /metrics show it. */
export interface BudgetShown {
  node: string;
  service: string;
  used: number;
  attempts: number;
  remaining: number;
  /** No automatic heal before then (null: nothing to wait for). */
  next_at: string | null;
  spent: boolean;
}

/** The budgets of the desired services that have heals on record (every other one is whole). */
export function budgetList(desired: DesiredState, heals: HealBudgets, now: number): BudgetShown[] {
  const out: BudgetShown[] = [];
  for (const [key, rec] of Object.entries(heals)) {
    const [node, service] = key.split('/') as [string, string];
    const policy = desired[node]?.services[service]?.heal;
    if (!policy) continue;
    const b = budgetOf(rec, policy, now);
    if (b.used === 0) continue;
    out.push({ node, service, used: b.used, attempts: b.attempts, remaining: b.remaining, next_at: b.nextAt > now && !b.spent ? new Date(b.nextAt).toISOString() : null, spent: b.spent });
  }
  return out.sort((a, b) => (a.node + a.service < b.node + b.service ? -1 : 1));
}
