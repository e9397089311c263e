// The supervisor's pure core. Level-triggered: every pass recomputes what should be open from the
// full desired state, world state and open actions, never from the last event alone.
import { actionForTrigger, idFor, instanceFrom, type Action, type ActionType, type Chain, type HealBudgetSeen, type Risk, type UpdatePlan } from './actions.js';
import type { z } from 'zod';
import { budgetOf, healHeld, type HealBudgets } from './heal-budget.js';
import { DEFAULT_HEAL } from './schemas.js';
import { dependencyView, learnedEdges, type DependencyEdge, type DependencyView } from './dependencies.js';
import { parseImageRef } from './image-ref.js';
import type { DesiredService, DesiredState, World } from './schemas.js';
import { describeUpdates, outdatedImages, type Skips, type Updates } from './updates.js';
import { heldNotices, maintenanceNotice, problemNotices, type DesiredProblemRef, type Notice } from './plan-notices.js';
import { hasWindows, maintenanceOf, type Maintenance } from './maintenance.js';
import { silenced, type Silence } from './silences.js';
import { changesNotOurs, cooldownUntil, DEFAULT_PLAN_CONFIG, isFlapping, type Cooldowns, type OwnWindow, type PlanConfig } from './cooldowns.js';

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

export interface Plan {
  create: ActionDraft[];
  cancel: Cancel[];
  notices: Notice[];
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

/** What every rule of one plan() call shares: the inputs, indexes of the open actions, the output. */
interface PlanContext {
  input: PlanInput;
  cfg: PlanConfig;
  instance: string;
  out: Plan;
  openById: Map<string, Action>;
  openByService: Map<string, Action[]>;
  /** Services some node wants watched (for the orphan rule). */
  wanted: Set<string>;
  cancel: (a: Action, reason: Cancel['reason']) => void;
  blocked: (id: string) => boolean;
}

/** After a step of the wall clock, how long before a node with an old last_seen counts as silent. */
const CLOCK_STEP_GRACE_MS = 120_000;

export function plan(input: PlanInput): Plan {
  const cfg = input.cfg ?? DEFAULT_PLAN_CONFIG;
  const out: Plan = { create: [], cancel: [], notices: [] };
  const openByService = new Map<string, Action[]>();
  for (const a of input.open) {
    const k = `${a.node}/${a.service ?? ''}`;
    openByService.set(k, [...(openByService.get(k) ?? []), a]);
  }
  const cancelled = new Set<string>();
  const ctx: PlanContext = {
    input,
    cfg,
    instance: instanceFrom(new Date(input.now).toISOString()),
    out,
    openById: new Map(input.open.map((a) => [a.id, a])),
    openByService,
    wanted: new Set(),
    cancel: (a, reason) => {
      if (a.state !== 'pending' || cancelled.has(a.id)) return;
      cancelled.add(a.id);
      out.cancel.push({ id: a.id, instance: a.instance, reason });
    },
    blocked: (id) => input.now < cooldownUntil(input.cooldowns[id], cfg),
  };
  problemNotices(input, out.notices);
  heldNotices(input, out.notices);
  for (const dn of Object.values(input.desired)) planNode(ctx, dn);
  cancelOrphans(ctx);
  return out;
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
  const before = out.notices.length;
  // Just after a step of the wall clock, last_seen says nothing yet: no silent-node notice for a
  // moment (the agents report within their interval), rather than one for every node at once.
  const justStepped = input.clockSteppedAt !== undefined && now - input.clockSteppedAt < CLOCK_STEP_GRACE_MS;
  if (monitored.length > 0 && nodeSilent && (!justStepped || input.openNotices?.has(`node-silent-${dn.node}`))) {
    const since = wn?.last_seen ?? null;
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
    return Number.isFinite(from) && now - from < graceMs;
  };
  // A node in maintenance says nothing else (its start and end notices are the news).
  if (nodeMaint) out.notices.splice(before);
  const deps = dependencyView({ node: dn, world: input.world, open: input.open, learned: input.learned?.[dn.node] ?? learnedEdges(wn), blind: nodeSilent || engineDown, inGrace });
  for (const s of monitored) {
    const maint = nodeMaint ?? maintenanceOf(input.desired, input.maintenance ?? [], dn.node, s.service, now);
    if (maint && !nodeMaint) out.notices.push(maintenanceNotice(maint, dn.node, s.service));
    planService(ctx, dn.node, s, nodeSilent || engineDown, inGrace(s), deps, maint);
  }
  planDisk(ctx, dn.node, nodeSilent || engineDown || nodeMaint !== undefined);
}

/** One watched service: cancel what a healthy one no longer needs, or propose what an unhealthy or missing one does. */
function planService(ctx: PlanContext, node: string, s: DesiredState[string]['services'][string], blind: boolean, inGrace: boolean, deps: DependencyView, maint: Maintenance | undefined): void {
  const { input, out, cfg } = ctx;
  const key = `${node}/${s.service}`;
  ctx.wanted.add(key);
  const w = input.world.services[key];
  const open = ctx.openByService.get(key) ?? [];
  if (w && w.status === 'healthy') {
    for (const a of open) if (a.type !== 'image_update') ctx.cancel(a, 'drift_resolved_auto');
    planUpdate(ctx, node, s, blind, maint);
    return;
  }
  if (blind || w?.status === 'unknown') return;
  // In maintenance: recorded, not acted on; when it ends, what still drifts is proposed at once.
  if (maint) return;
  if (!w && inGrace) return;
  // Docker's restart policy is at work: give it its minute before stepping in (no race with it).
  if (w?.reason === 'container_restarting' && input.now - Date.parse(w.since) < (cfg.restartPolicyGraceS ?? DEFAULT_PLAN_CONFIG.restartPolicyGraceS!) * 1000) return;
  // Its root cause is another service: that one's action brings it back; nothing of its own.
  if (deps.coveredBy.has(s.service)) {
    for (const a of open) if (a.type !== 'image_update') ctx.cancel(a, 'covered_by_root');
    return;
  }
  const trigger = w ? (w.reason ?? 'service_unhealthy') : 'missing_service';
  const { type, risk } = actionForTrigger(trigger);
  const id = idFor(type, node, s.service);
  // Restarts, recreates, updates and rollbacks of our own make status changes too: they are the
  // action's outcome, never a sign of flapping.
  const changes = w ? changesNotOurs(w.changes, input.own?.[key]) : [];
  // Docker's own restarts (its restart policy at work) count towards nothing of ours: not flapping.
  const flapping = w !== undefined && w.reason !== 'container_restarting' && isFlapping(changes, input.now, cfg);
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
  if (ctx.openById.has(id) || flapping || silenced(input.silences, node, s.service, input.now)) return;
  // The restart budget, not a per-id cooldown: each heal waits its backoff; a rejection holds
  // like one; past the budget, a person is asked at once (an escalation).
  const budget = budgetOf(input.heals?.[key], s.heal ?? DEFAULT_HEAL, input.now);
  if (healHeld(input.cooldowns[id], budget, s.heal ?? DEFAULT_HEAL, input.now)) return;
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
 * A healthy service whose image is behind its tag (docs/design/updates.md): an image_update to
 * approve (`approve`, `auto`) or a notice (`notify`). A pending one is cancelled when the service
 * caught up by other means, superseded when a newer digest appeared, and cancelled when updates
 * were turned off. After an outcome (done, failed, rejected) the same service is proposed again
 * only from a check made after it: at most once per check interval.
 */
function planUpdate(ctx: PlanContext, node: string, s: DesiredService, blind: boolean, maint: Maintenance | undefined): void {
  const { input, out } = ctx;
  const key = `${node}/${s.service}`;
  const id = idFor('image_update', node, s.service);
  const entry = input.updates?.[key];
  const outdated = entry ? outdatedImages(entry.images, input.skips?.[key]) : [];
  const open = ctx.openById.get(id);
  if (open) {
    if (open.state !== 'pending') return;
    if (s.updates === 'off' || s.updates === 'notify') return ctx.cancel(open, 'updates_off');
    if (!entry) return;
    const wanted = new Set(outdated.map((i) => `${i.image}@${i.remote_digest}`));
    const planned = new Set((open.update?.images ?? []).map((i) => `${i.image}@${i.to_digest}`));
    const skipped = (open.update?.images ?? []).some((i) => input.skips?.[key]?.some((x) => x.digest === i.to_digest));
    if (wanted.size === 0) return ctx.cancel(open, skipped ? 'version_skipped' : 'drift_resolved_auto');
    if ([...wanted].some((x) => !planned.has(x)) || [...planned].some((x) => !wanted.has(x))) ctx.cancel(open, 'superseded');
    else return;
  }
  if (blind || outdated.length === 0 || !entry || s.updates === 'off') return;
  // In maintenance only `updates: auto` goes ahead; a node with windows of its own updates
  // automatically only inside them (the one-line answer to "update only at night").
  if (maint && s.updates !== 'auto') return;
  if (s.updates === 'auto' && !maint && hasWindows(input.desired, node)) return;
  if (s.updates === 'notify') {
    out.notices.push({
      key: `image-update-${node}-${s.service}`,
      kind: 'image_update_available',
      node,
      service: s.service,
      message: `A newer image for ${s.service} on ${node}: ${describeUpdates(outdated)}. updates: notify in hosts/${node}/services.yaml, so nothing is proposed; set updates: approve for an Update button.`,
      revision: outdated.map((i) => i.remote_digest).join(','),
      detail: { images: outdated.map((i) => ({ image: i.image, from: i.local_digest, to: i.remote_digest, ...(i.version ? { version: i.version } : {}), ...(i.source ? { source: i.source } : {}) })) },
    });
    return;
  }
  const last = input.cooldowns[id]?.last_at;
  if (last !== undefined && last >= entry.checked_at) return;
  if (silenced(input.silences, node, s.service, input.now)) return;
  const images = outdated.map((i) => {
    const ref = parseImageRef(i.image);
    return {
      image: i.image,
      repository: i.repository ?? ref.name,
      tag: i.tag ?? ref.tag ?? 'latest',
      containers: i.containers,
      from_digest: i.local_digest,
      to_digest: i.remote_digest!,
      ...(i.created ? { created: i.created } : {}),
      ...(i.version ? { version: i.version } : {}),
      ...(i.source ? { source: i.source } : {}),
    };
  });
  out.create.push({
    id,
    instance: ctx.instance,
    type: 'image_update',
    risk: 'guarded',
    node,
    service: s.service,
    drift: 'outdated_image',
    trigger: 'image_update_available',
    containers: [...new Set(images.flatMap((i) => i.containers))],
    drift_since: entry.checked_at,
    update: { images },
  });
}

/** Disk pressure is per node: propose a cleanup, or cancel one the node no longer needs. */
function planDisk(ctx: PlanContext, node: string, blind: boolean): void {
  const { input, out } = ctx;
  const wn = input.world.nodes[node];
  const diskId = idFor('disk_cleanup', node, null);
  const diskOpen = ctx.openById.get(diskId);
  if (wn?.disk_pressure === 'high') {
    if (!blind && !diskOpen && !silenced(input.silences, node, null, input.now) && !ctx.blocked(diskId)) {
      out.create.push({
        id: diskId,
        instance: ctx.instance,
        type: 'disk_cleanup',
        risk: 'guarded',
        node,
        service: null,
        drift: 'disk_pressure',
        trigger: 'disk_pressure',
        containers: [],
        drift_since: wn.disk_updated_at,
      });
    }
  } else if (diskOpen && wn?.disk_pressure === 'normal') {
    ctx.cancel(diskOpen, 'drift_resolved_auto');
  }
}

/** Pending actions whose service left the desired state (or is no longer monitored). */
function cancelOrphans(ctx: PlanContext): void {
  const { input } = ctx;
  for (const a of input.open) {
    if (a.type === 'disk_cleanup') {
      if (!input.desired[a.node]) ctx.cancel(a, 'service_removed_from_desired_state');
      continue;
    }
    const key = `${a.node}/${a.service ?? ''}`;
    if (ctx.wanted.has(key)) continue;
    if (input.held[a.node]?.includes(a.service ?? '')) continue;
    ctx.cancel(a, 'service_removed_from_desired_state');
  }
}

// ---------------------------------------------------------------------------------------------
// Cooldown bookkeeping
