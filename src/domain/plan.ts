// The supervisor's pure core. Level-triggered: every pass recomputes what should be open from the
// full desired state, world state and open actions, never from the last event alone. Each node is
// planned on its own (planNodeOf), so that plan-incremental.ts can keep the parts of the nodes
// whose inputs did not change and give the same plan (docs/design/supervisor.md).
import { actionForTrigger, idFor, instanceFrom, type Action } from './actions.js';
import { budgetOf, healHeld, healTimes } from './heal-budget.js';
import { DEFAULT_HEAL } from './schemas.js';
import { dependencyView, learnedEdges, type DependencyView } from './dependencies.js';
import type { DesiredService, DesiredState } from './schemas.js';
import { heldNotices, maintenanceNotice, problemNotices } from './plan-notices.js';
import { maintenanceOf, type Maintenance } from './maintenance.js';
import { silenced } from './silences.js';
import { changesNotOurs, DEFAULT_PLAN_CONFIG, isFlapping, type PlanConfig } from './cooldowns.js';
import { indexOpen, nodeContext, serviceKeyOf, type NodePlan, type OpenIndex, type Plan, type PlanContext, type PlanInput } from './plan-context.js';
import { planDisk, planUpdate } from './plan-update.js';

export type { ActionDraft, Plan, PlanInput } from './plan-context.js';

/**
 * When each watched service appeared in the desired state: kept from `prev`, `now` for a new one.
 * Without `prev` (the first run) every service counts as there long ago (''), so only the node's
 * first event starts a grace.
 */
export function desiredSince(prev: Readonly<Record<string, string>> | undefined, desired: DesiredState, now: number): Record<string, string> {
  const out: Record<string, string> = {};
  const at = new Date(now).toISOString();
  for (const dn of Object.values(desired)) {
    for (const s of Object.values(dn.services)) {
      if (!s.monitor) continue;
      const key = `${dn.node}/${s.service}`;
      out[key] = prev === undefined ? '' : (prev[key] ?? at);
    }
  }
  return out;
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

/** After a step of the wall clock, how long before a node with an old last_seen counts as silent. */
export const CLOCK_STEP_GRACE_MS = 120_000;

/** What the nodes of one plan share: worked out once per plan. */
export interface PlanShared {
  cfg: PlanConfig;
  instance: string;
  open: OpenIndex;
}

/** `open`: the open actions' index when the caller keeps one (OpenIndexer), else made here. */
export function planShared(input: PlanInput, open?: OpenIndex): PlanShared {
  return { cfg: input.cfg ?? DEFAULT_PLAN_CONFIG, instance: instanceFrom(new Date(input.now).toISOString()), open: open ?? indexOpen(input.open) };
}

export function plan(input: PlanInput): Plan {
  const shared = planShared(input);
  const parts = Object.values(input.desired).map((dn) => planNodeOf(input, shared, dn));
  return assemblePlan(input, shared, parts, input.open.filter((a) => orphaned(input, a)));
}

/**
 * The plan from each node's part (`parts`, in the order of the desired state), between the
 * notices about the desired state itself and the cancellations of what no node wants any more
 * (`orphans`: the open actions `orphaned` says so of, in the listing's order).
 */
export function assemblePlan(input: PlanInput, shared: PlanShared, parts: Iterable<NodePlan>, orphans: Iterable<Action>): Plan {
  const out: Plan = { create: [], cancel: [], notices: [] };
  problemNotices(input, out.notices);
  heldNotices(input, out.notices);
  for (const np of parts) {
    for (const c of np.create) out.create.push(c);
    for (const c of np.cancel) out.cancel.push(c);
    for (const n of np.notices) out.notices.push(n);
  }
  const ctx = nodeContext(input, shared.cfg, shared.instance, shared.open);
  for (const a of orphans) ctx.cancel(a, 'service_removed_from_desired_state');
  for (const c of ctx.out.cancel) out.cancel.push(c);
  return out;
}

/** One node's part of the plan: its notices, what to propose and cancel, and when the clock alone changes it. */
export function planNodeOf(input: PlanInput, shared: PlanShared, dn: DesiredState[string]): NodePlan {
  const ctx = nodeContext(input, shared.cfg, shared.instance, shared.open);
  planNode(ctx, dn);
  return ctx.out;
}

/** The rules of one node: silent agent, unreachable engine, each watched service, disk pressure. */
function planNode(ctx: PlanContext, dn: DesiredState[string]): void {
  const { input, out } = ctx;
  const { world, now } = input;
  const monitored = Object.values(dn.services).filter((s) => s.monitor);
  const wn = world.nodes[dn.node];
  const nodeSilent = !wn || wn.agent === 'silent';
  // Maintenance of the whole node: still observed, but nothing proposed and only its own notice.
  const nodeMaint = maintenanceOf(input.desired, input.maintenance ?? [], dn.node, null, now);
  if (nodeMaint) out.notices.push(maintenanceNotice(nodeMaint, dn.node));
  noteClockDues(ctx, dn);
  const before = out.notices.length;
  // Just after a step of the wall clock, last_seen says nothing yet: no silent-node notice for a
  // moment (the agents report within their interval), rather than one for every node at once.
  const justStepped = input.clockSteppedAt !== undefined && now - input.clockSteppedAt < CLOCK_STEP_GRACE_MS;
  if (input.clockSteppedAt !== undefined) ctx.due(input.clockSteppedAt + CLOCK_STEP_GRACE_MS);
  if (monitored.length > 0 && nodeSilent && (!justStepped || input.openNotices?.has(`node-silent-${dn.node}`))) {
    const since = wn?.last_seen ?? null;
    // The message says for how long, in minutes: it changes when the rounded figure does.
    if (since) ctx.due(Date.parse(since) + (Math.round((now - Date.parse(since)) / 60_000) + 0.5) * 60_000);
    out.notices.push({
      key: `node-silent-${dn.node}`,
      kind: 'node_silent',
      node: dn.node,
      message: since
        ? `No events from ${dn.node} for ${minutes(now - Date.parse(since))} (last at ${since}): its agent is silent, so no actions are proposed for its ${monitored.length} services. Check the node agent on ${dn.node}.`
        : `No events ever received from ${dn.node}: no actions are proposed for its ${monitored.length} services until its node agent reports. Is the agent running there?`,
      revision: since ?? 'never',
    });
  }
  // Two agents for one node: both streams are kept (each has its own identity), but the operator
  // should know — they inspect the same containers twice and may disagree.
  if (!nodeSilent && wn?.agents_running) {
    out.notices.push({
      key: `agents-running-${dn.node}`,
      kind: 'agents_running',
      node: dn.node,
      message: `Two agents send heartbeats for ${dn.node} at once (instances ${wn.agents_running.join(', ')}). Both are heard, but one agent per node is enough: stop the extra one (an 'agent --once' run does not count).`,
      revision: wn.agents_running.join(','),
    });
  }
  // The agent speaks but cannot reach its engine: its services are unknown, never "missing".
  const engineDown = !nodeSilent && wn?.engine === 'unreachable';
  if (engineDown && monitored.length > 0) {
    out.notices.push({
      key: `engine-unreachable-${dn.node}`,
      kind: 'engine_unreachable',
      node: dn.node,
      message: `The node agent on ${dn.node} cannot reach its Docker Engine (since ${wn.engine_since ?? 'its last heartbeat'}): the state of its ${monitored.length} services is unknown, so nothing is proposed for them. Check dockerd on ${dn.node} (systemctl status docker) and the agent's access to the socket.`,
      revision: wn.engine_since ?? 'unreachable',
    });
  }
  // Before the grace runs out, a service not reported yet is not missing: its agent just started,
  // or the service was just added to services.yaml (the grace counts from the later of the two).
  const firstSeen = wn?.first_seen ? Date.parse(wn.first_seen) : NaN;
  const graceMs = (ctx.cfg.missingGraceS ?? DEFAULT_PLAN_CONFIG.missingGraceS) * 1000;
  const inGrace = (s: DesiredService) => {
    const added = Date.parse(input.desiredSince?.[`${dn.node}/${s.service}`] ?? '');
    const from = Math.max(Number.isFinite(firstSeen) ? firstSeen : -Infinity, Number.isFinite(added) ? added : -Infinity);
    if (!Number.isFinite(from)) return false;
    ctx.due(from + graceMs);
    return now - from < graceMs;
  };
  // A node in maintenance says nothing else (its start and end notices are the news).
  if (nodeMaint) out.notices.splice(before);
  const deps = dependencyView({ node: dn, world: input.world, open: ctx.open.byNode.get(dn.node) ?? [], learned: input.learned?.[dn.node] ?? learnedEdges(wn), blind: nodeSilent || engineDown, inGrace });
  for (const s of monitored) {
    const maint = nodeMaint ?? maintenanceOf(input.desired, input.maintenance ?? [], dn.node, s.service, now);
    if (maint && !nodeMaint) out.notices.push(maintenanceNotice(maint, dn.node, s.service));
    planService(ctx, dn.node, s, nodeSilent || engineDown, () => inGrace(s), deps, maint);
  }
  planDisk(ctx, dn.node, nodeSilent || engineDown || nodeMaint !== undefined);
}

/** One watched service: cancel what a healthy one no longer needs, or propose what an unhealthy or missing one does. */
function planService(ctx: PlanContext, node: string, s: DesiredState[string]['services'][string], blind: boolean, inGrace: () => boolean, deps: DependencyView, maint: Maintenance | undefined): void {
  const { input, out, cfg } = ctx;
  const key = `${node}/${s.service}`;
  const w = input.world.services[key];
  const open = ctx.open.byService.get(key) ?? [];
  if (w && w.status === 'healthy') {
    for (const a of open) if (a.type !== 'image_update') ctx.cancel(a, 'drift_resolved_auto');
    planUpdate(ctx, node, s, blind, maint);
    return;
  }
  if (blind || w?.status === 'unknown') return;
  // In maintenance: recorded, not acted on; when it ends, what still drifts is proposed at once.
  if (maint) return;
  // (Asked only of a service not reported: its grace's end is then a due time of the node.)
  if (!w && inGrace()) return;
  // Docker's restart policy is at work: give it its minute before stepping in (no race with it).
  if (w?.reason === 'container_restarting') {
    const until = Date.parse(w.since) + (cfg.restartPolicyGraceS ?? DEFAULT_PLAN_CONFIG.restartPolicyGraceS!) * 1000;
    ctx.due(until);
    if (input.now < until) return;
  }
  // Its root cause is another service: that one's action brings it back; nothing of its own.
  if (deps.coveredBy.has(s.service)) {
    for (const a of open) if (a.type !== 'image_update') ctx.cancel(a, 'covered_by_root');
    return;
  }
  // A dependent fails with what it depends on, and the agent may report it first (its health
  // check fails before the engine calls the dependency dead): it waits a moment for the root's
  // report before it gets anything of its own.
  if (w && deps.dependents.has(s.service)) {
    const until = Date.parse(w.since) + (cfg.dependentSettleS ?? DEFAULT_PLAN_CONFIG.dependentSettleS!) * 1000;
    ctx.due(until);
    if (input.now < until) return;
  }
  const trigger = w ? (w.reason ?? 'service_unhealthy') : 'missing_service';
  const { type, risk } = actionForTrigger(trigger);
  const id = idFor(type, node, s.service);
  // Restarts, recreates, updates and rollbacks of our own make status changes too: they are the
  // action's outcome, never a sign of flapping.
  const changes = w ? changesNotOurs(w.changes, input.own?.[key]) : [];
  // Docker's own restarts (its restart policy at work) count towards nothing of ours: not flapping.
  const flapping = w !== undefined && w.reason !== 'container_restarting' && isFlapping(changes, input.now, cfg);
  // Flapping ends once the last change is steadyS old (isFlapping).
  if (changes.length > cfg.flapChanges) ctx.due(Date.parse(changes[changes.length - 1]!) + cfg.steadyS * 1000);
  if (w && flapping) {
    out.notices.push({
      key: `flapping-${node}-${s.service}`,
      kind: 'flapping',
      node,
      service: s.service,
      message: `${s.service} on ${node} changed status ${changes.length} times recently: it is flapping, so no actions are proposed until it holds steady for ${minutes(cfg.steadyS * 1000)}.`,
      revision: 'flapping',
    });
  }
  const others = open.filter((a) => a.id !== id);
  if (others.some((a) => a.state !== 'pending')) return; // the other action is under way: wait for it
  for (const a of others) ctx.cancel(a, 'superseded');
  if (ctx.open.byId.has(id) || flapping || silenced(input.silences, node, s.service, input.now)) return;
  // The restart budget, not a per-id cooldown: each heal waits its backoff; a rejection holds
  // like one; past the budget, a person is asked at once (an escalation).
  const policy = s.heal ?? DEFAULT_HEAL;
  const budget = budgetOf(input.heals?.[key], policy, input.now);
  for (const t of healTimes(input.cooldowns[id], input.heals?.[key], policy)) ctx.due(t);
  if (healHeld(input.cooldowns[id], budget, policy, input.now)) return;
  out.create.push({
    id,
    instance: ctx.instance,
    type,
    risk,
    node,
    service: s.service,
    drift: w ? 'unhealthy_service' : 'missing_service',
    trigger,
    containers: s.containers,
    drift_since: w?.since ?? null,
    ...(deps.chainOf.has(s.service) ? { chain: deps.chainOf.get(s.service)! } : {}),
    ...(budget.used > 0 ? { budget: { used: budget.used, attempts: budget.attempts, escalation: budget.spent, heals: budget.spent ? budget.heals : [] } } : {}),
  });
}

/**
 * The times at which the clock alone changes what the node's silences and maintenance say: their
 * ends, and for windows in services.yaml (minutes of a wall clock) the next minute.
 */
function noteClockDues(ctx: PlanContext, dn: DesiredState[string]): void {
  const prefix = `${dn.node}/`;
  for (const list of [ctx.input.silences, ctx.input.maintenance ?? []]) {
    for (const x of list) if (x.target === dn.node || x.target.startsWith(prefix)) ctx.due(Date.parse(x.until));
  }
  if (dn.maintenance.length > 0 || Object.values(dn.services).some((s) => s.maintenance?.length)) ctx.due(Math.floor(ctx.input.now / 60_000) * 60_000 + 60_000);
}

/** `node/service` of every watched service: worked out once per desired state. */
const wantedCache = new WeakMap<DesiredState, Set<string>>();
function wantedKeys(desired: DesiredState): Set<string> {
  let keys = wantedCache.get(desired);
  if (keys) return keys;
  keys = new Set();
  for (const dn of Object.values(desired)) for (const s of Object.values(dn.services)) if (s.monitor) keys.add(`${dn.node}/${s.service}`);
  wantedCache.set(desired, keys);
  return keys;
}

/** Whether an open action's service left the desired state (or is no longer monitored): a pending one is cancelled. */
export function orphaned(input: Pick<PlanInput, 'desired' | 'held'>, a: Action): boolean {
  if (a.type === 'disk_cleanup') return !input.desired[a.node];
  if (wantedKeys(input.desired).has(serviceKeyOf(a))) return false;
  return !input.held[a.node]?.includes(a.service ?? '');
}
