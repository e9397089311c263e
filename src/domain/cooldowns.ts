// Our own actions' windows, cooldowns after outcomes, and flapping: the supervisor's memory of
// what it already did, so that it neither loops nor counts its own restarts as instability.
import type { Action, ActionType } from './actions.js';
import type { World } from './schemas.js';

export interface CooldownEntry {
  node: string;
  service: string | null;
  type: ActionType;
  /** Completed, failed or rejected instances counted since the last reset. */
  count: number;
  /** Finish time of the newest instance counted. */
  last_at: string;
  /** How the newest one ended: completed, failed, rejected or cancelled (an operator's). */
  last_outcome?: string;
}
export type Cooldowns = Record<string, CooldownEntry>;

export interface PlanConfig {
  cooldownBaseS: number;
  cooldownMaxS: number;
  /** A service healthy this long resets its cooldowns; also the flapping steady time. */
  steadyS: number;
  /** More status changes than this within steadyS is flapping. */
  flapChanges: number;
  /**
   * A node's services count as missing only this long after the node's first event: an agent
   * coming up reports its services one by one (MISSING_GRACE_S).
   */
  missingGraceS: number;
  /**
   * A container Docker's own restart policy is restarting is left to it this long before anything
   * is proposed (it gives up by itself once its MaximumRetryCount is spent: the container exits).
   */
  restartPolicyGraceS?: number;
  /**
   * A service that depends on another (depends_on, or a link the agent learned) and turned
   * unhealthy waits this long before anything of its own is proposed: the root's report, when
   * the dependency is the cause, arrives in the meantime and covers it (one message, not two).
   */
  dependentSettleS?: number;
  /** How long after an action ended its effects are still its own (VERIFY_AFTER_S). */
  verifyAfterS: number;
}

export const DEFAULT_PLAN_CONFIG: PlanConfig = { cooldownBaseS: 600, cooldownMaxS: 6 * 3600, steadyS: 1800, flapChanges: 6, missingGraceS: 60, restartPolicyGraceS: 60, dependentSettleS: 30, verifyAfterS: 120 };

/**
 * When one of our own actions was acting on a service: from its start to the end of its
 * verification window (world time, ISO). Status changes inside are the action's doing.
 */
export interface OwnWindow {
  from: string;
  to: string;
}

/** The windows of our own actions, by `node/service`: running ones until now + the verification, finished ones until their end + it. */
export function ownWindows(actions: readonly Action[], now: number, cfg: PlanConfig = DEFAULT_PLAN_CONFIG): Record<string, OwnWindow[]> {
  const out: Record<string, OwnWindow[]> = {};
  const tail = (cfg.verifyAfterS ?? DEFAULT_PLAN_CONFIG.verifyAfterS) * 1000;
  for (const a of actions) {
    if (!a.service || !a.started_at) continue;
    const end = a.state === 'running' || a.state === 'approved' ? now : Date.parse(a.finished_at ?? a.updated_at);
    if (!Number.isFinite(end)) continue;
    (out[`${a.node}/${a.service}`] ??= []).push({ from: a.started_at, to: new Date(end + tail).toISOString() });
  }
  return out;
}

/** A service's status changes less those our own actions caused (inside their windows). */
export function changesNotOurs(changes: readonly string[], own: readonly OwnWindow[] | undefined): readonly string[] {
  if (!own || own.length === 0) return changes;
  return changes.filter((c) => !own.some((o) => c >= o.from && c <= o.to));
}

/** True while `id`'s cooldown runs: 10 min after the first outcome, doubling, at most 6 h. */
export function cooldownUntil(entry: CooldownEntry | undefined, cfg: PlanConfig = DEFAULT_PLAN_CONFIG): number {
  if (!entry || entry.count <= 0) return 0;
  const s = Math.min(cfg.cooldownBaseS * 2 ** Math.min(entry.count - 1, 30), cfg.cooldownMaxS);
  return Date.parse(entry.last_at) + s * 1000;
}

/**
 * Flapping: more than `flapChanges` status changes within any `steadyS` window of the current
 * unsteady run, until the status has held for `steadyS`.
 */
export function isFlapping(changes: readonly string[], now: number, cfg: PlanConfig = DEFAULT_PLAN_CONFIG): boolean {
  if (changes.length <= cfg.flapChanges) return false;
  const t = changes.map((c) => Date.parse(c));
  const window = cfg.steadyS * 1000;
  if (now - t[t.length - 1]! >= window) return false;
  // Walk back through the current run (no quiet gap of `window` between changes).
  let start = t.length - 1;
  while (start > 0 && t[start]! - t[start - 1]! < window) start--;
  for (let i = start; i + cfg.flapChanges < t.length; i++) {
    if (t[i + cfg.flapChanges]! - t[i]! < window) return true;
  }
  return false;
}

/**
 * Counts every completed, failed or rejected instance not counted yet (finished after `last_at`)
 * and resets entries whose service (or node disk) has been fine for `steadyS`.
 */
export function updateCooldowns(prev: Cooldowns, finished: readonly Action[], world: World, now: number, cfg: PlanConfig = DEFAULT_PLAN_CONFIG): Cooldowns {
  const next: Cooldowns = structuredClone(prev) as Cooldowns;
  const outcomes = finished
    // An operator's cancel (/recover → Cancel all) holds like a rejection: same cooldown.
    // (A snooze holds by its silence; when it ends, a drift still there is proposed at once.)
    .filter((a) => a.state === 'completed' || a.state === 'failed' || a.state === 'rejected' || (a.state === 'cancelled' && a.cancel_reason === 'cancelled_by_operator'))
    .map((a) => ({ a, at: a.finished_at ?? a.updated_at }))
    .sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : 0));
  for (const { a, at } of outcomes) {
    const e = next[a.id];
    if (e && at <= e.last_at) continue;
    next[a.id] = { node: a.node, service: a.service ?? null, type: a.type, count: (e?.count ?? 0) + 1, last_at: at, last_outcome: a.state };
  }
  const steadyBefore = now - cfg.steadyS * 1000;
  for (const e of Object.values(next)) {
    if (e.count === 0 || Date.parse(e.last_at) > steadyBefore) continue;
    if (e.type === 'disk_cleanup') {
      const n = world.nodes[e.node];
      if (n?.disk_pressure === 'normal' && n.disk_updated_at !== null && Date.parse(n.disk_updated_at) <= steadyBefore) e.count = 0;
    } else {
      const s = world.services[`${e.node}/${e.service}`];
      if (s?.status === 'healthy' && Date.parse(s.since) <= steadyBefore) e.count = 0;
    }
  }
  return next;
}

// ---------------------------------------------------------------------------------------------
// Bulk removal hold
