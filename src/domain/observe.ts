// The observer's pure core: event lines in, world state out. No fs, no clock, no env.
import { z } from 'zod';
import { LinkSchema, NAME_RE, type DesiredState, type NodeEvent, type NodeState, type ServiceState, type World } from './schemas.js';

export type EventKind = 'positive' | 'negative' | 'node' | 'unknown';

const POSITIVE = new Set(['service_healthy', 'service_recovered']);
const NEGATIVE = new Set(['containers_not_running', 'mqtt_unreachable', 'healthcheck_failed', 'service_unhealthy', 'container_restarting']);
const NODE_TYPES = new Set(['node_heartbeat', 'disk_pressure']);

export function classify(type: string): EventKind {
  if (POSITIVE.has(type)) return 'positive';
  if (NEGATIVE.has(type) || type.endsWith('_failed') || type.endsWith('_unreachable')) return 'negative';
  if (NODE_TYPES.has(type)) return 'node';
  return 'unknown';
}

export interface ObserveConfig {
  /** Raw node name → canonical node name. */
  aliases: Readonly<Record<string, string>>;
  /**
   * An event stamped more than this far ahead of the clock is malformed: believed, it would hide
   * every real event until then (status changes are ordered by ts). Undefined: no such check.
   */
  maxFutureMs?: number;
}

export function canonicalNode(name: string, cfg: ObserveConfig): string {
  return Object.prototype.hasOwnProperty.call(cfg.aliases, name) ? (cfg.aliases[name] as string) : name;
}

/** How many status-change timestamps each service keeps (for flapping detection). */
export const CHANGES_KEPT = 16;

/**
 * The changes of a service that has had none: one frozen empty list shared by all (50 000
 * services: 1.5 MB of heap). Changes are copied on write (`[...prev.changes, ts]`), never pushed.
 */
export const NO_CHANGES = Object.freeze([]) as unknown as string[];

/** The services of a model read back (a checkpoint, a snapshot, a worker's part) sharing NO_CHANGES. */
export function shareNoChanges(services: Record<string, ServiceState>): void {
  for (const s of Object.values(services)) if (s.changes.length === 0) s.changes = NO_CHANGES;
}

/** The observer's whole state: everything world state is rendered from. */
export interface ObserverModel {
  services: Record<string, ServiceState>;
  nodes: Record<string, NodeState>;
  /**
   * Highest `seq` applied per stream: the node an events file belongs to, and `<node>@<agent>`
   * for events that name their agent instance.
   */
  seq: Record<string, number>;
  /** The newest event time per `<node>@<agent>` stream, to forget instances silent for long. */
  seq_seen?: Record<string, string>;
  /**
   * Per unhealthy service whose reason changed during the incident: the reason it began with
   * (`last_incident.reason` names it; `reason` follows the newest).
   */
  first_reasons?: Record<string, string | null>;
  counters: Counters;
}

export interface Counters {
  applied: number;
  malformed: number;
  oversized: number;
  duplicate: number;
  unknown: number;
}

export function emptyModel(): ObserverModel {
  return { services: {}, nodes: {}, seq: {}, seq_seen: {}, counters: { applied: 0, malformed: 0, oversized: 0, duplicate: 0, unknown: 0 } };
}

export function emptyNode(node: string): NodeState {
  return {
    node,
    last_seen: null,
    last_event_type: null,
    disk_pressure: null,
    disk_used_pct: null,
    disk_updated_at: null,
    events_applied: 0,
    events_unknown: 0,
    first_seen: null,
    engine: null,
    engine_since: null,
    engine_checked_at: null,
  };
}

/** ISO timestamps produced by toISOString() compare correctly as strings. */
const later = (a: string | null, b: string): boolean => a === null || b >= a;

/**
 * Applies one valid event (already through parseEventLine) to the model, in place.
 * `source` is the stream it came from (the file's node), for `seq` de-duplication.
 * Returns false when the event was a duplicate and changed nothing.
 *
 * A status changes only for an event at least as new as the last one seen for that service, so
 * events delivered late (an agent's spool draining) never overwrite newer news.
 */
export function applyEvent(model: ObserverModel, event: NodeEvent, source: string, fresh?: WeakSet<ServiceState> & { readonly nodes?: Set<string> }): boolean {
  if (event.seq !== undefined) {
    // Identity: node + agent + seq. Two agents of one node (or a restarted one) never collide.
    const stream = event.agent === undefined ? source : `${source}@${event.agent}`;
    const last = model.seq[stream];
    if (last !== undefined && event.seq <= last) {
      model.counters.duplicate++;
      return false;
    }
    model.seq[stream] = event.seq;
    if (event.agent !== undefined) {
      const seen = (model.seq_seen ??= {});
      if (!(stream in seen) || event.ts > seen[stream]!) seen[stream] = event.ts;
    }
  }
  const ts = event.ts;
  const node = (model.nodes[event.node] ??= emptyNode(event.node));
  fresh?.nodes?.add(event.node);
  if (later(node.last_seen, ts)) {
    node.last_seen = ts;
    node.last_event_type = event.type;
  }
  if (node.first_seen === undefined || node.first_seen === null || ts < node.first_seen) node.first_seen = ts;
  node.events_applied++;
  model.counters.applied++;

  const kind = classify(event.type);
  if (kind === 'unknown') {
    node.events_unknown++;
    model.counters.unknown++;
    return true;
  }
  if (kind === 'node') applyNodeEvent(node, event);
  else {
    applyServiceEvent(model, event, kind === 'positive' ? 'healthy' : 'unhealthy', fresh);
    if (event.detail?.links !== undefined) applyLinks(node, event);
  }
  return true;
}

/** A service's links as its newest report gives them (one that does not read as links is left out). */
function applyLinks(node: NodeState, event: NodeEvent): void {
  const service = event.service as string;
  const prev = node.links?.[service];
  if (prev && prev.at > event.ts) return;
  const parsed = z.array(LinkSchema).max(64).safeParse(event.detail?.links);
  if (!parsed.success) return;
  const links = { ...(node.links ?? {}) };
  if (parsed.data.length) links[service] = { at: event.ts, on: parsed.data };
  else delete links[service];
  node.links = links;
}

/** Agent instances remembered per node (the ones heard of last). */
const AGENTS_KEPT = 8;

/** A long-running agent's heartbeat: when it was first and last heard of, its interval. */
function noteAgent(node: NodeState, event: NodeEvent): void {
  if (event.agent === undefined || event.detail?.once === true) return;
  const iv = event.detail?.interval_s;
  const interval = typeof iv === 'number' && Number.isFinite(iv) && iv > 0 ? iv : null;
  const agents = { ...(node.agents ?? {}) };
  const a = agents[event.agent];
  agents[event.agent] = a ? { first: event.ts < a.first ? event.ts : a.first, last: event.ts > a.last ? event.ts : a.last, interval_s: interval ?? a.interval_s } : { first: event.ts, last: event.ts, interval_s: interval };
  const ids = Object.keys(agents);
  if (ids.length > AGENTS_KEPT) {
    ids.sort((x, y) => (agents[x]!.last < agents[y]!.last ? -1 : 1));
    for (const id of ids.slice(0, ids.length - AGENTS_KEPT)) delete agents[id];
  }
  node.agents = agents;
}

/** An agent instance not heard of for this long is forgotten (its sequence state). */
export const AGENT_FORGET_MS = 24 * 3_600_000;

/**
 * Forgets the sequence state of agent instances not heard of since `before` (an ISO time): they
 * stopped long ago, and a new start is a new instance. Returns how many were forgotten.
 */
export function forgetSilentAgents(model: ObserverModel, before: string): number {
  let n = 0;
  for (const [stream, ts] of Object.entries(model.seq_seen ?? {})) {
    if (ts >= before) continue;
    delete model.seq[stream];
    delete model.seq_seen![stream];
    n++;
  }
  return n;
}

/** A heartbeat (the engine as the agent sees it) or a disk pressure report, newest wins. */
function applyNodeEvent(node: NodeState, event: NodeEvent): void {
  const ts = event.ts;
  if (event.type === 'node_heartbeat') {
    noteAgent(node, event);
    // The agent says whether it reaches its node's Docker Engine (`detail.engine`).
    const e = event.detail?.engine;
    const engine = e === 'unreachable' ? 'unreachable' : e === 'ok' || e === 'reachable' ? 'reachable' : undefined;
    if (engine && later(node.engine_checked_at ?? null, ts)) {
      if (node.engine !== engine) node.engine_since = ts;
      node.engine = engine;
      node.engine_checked_at = ts;
    }
  }
  if (event.type === 'disk_pressure' && later(node.disk_updated_at, ts)) {
    node.disk_pressure = event.detail?.level === 'high' ? 'high' : 'normal';
    const pct = event.detail?.used_pct;
    node.disk_used_pct = typeof pct === 'number' && Number.isFinite(pct) ? pct : null;
    node.disk_updated_at = ts;
  }
}

/** A service's report: its status follows the newest event; incidents and changes are kept. */
function applyServiceEvent(model: ObserverModel, event: NodeEvent, status: 'healthy' | 'unhealthy', fresh: WeakSet<ServiceState> | undefined): void {
  const ts = event.ts;
  const service = event.service as string;
  const key = `${event.node}/${service}`;
  const reason = status === 'healthy' ? null : event.type;
  const prev = model.services[key];
  if (!prev) {
    const created: ServiceState = {
      node: event.node,
      service,
      status,
      reason,
      since: ts,
      last_event_at: ts,
      last_healthy_at: status === 'healthy' ? ts : null,
      last_incident: null,
      changes: NO_CHANGES,
    };
    model.services[key] = created;
    fresh?.add(created);
    return;
  }
  // Copy on write: a service object, once in a published world, never changes (renderWorld
  // shares them instead of copying 5 000 of them per publish). One made since the last publish
  // (`fresh`) is nobody else's yet and changes in place: a replay makes one per service, not
  // one per event. Below, `prev` is read before `next` is written wherever they are one object.
  const healthyAt = status === 'healthy' && later(prev.last_healthy_at, ts);
  if (!healthyAt && !later(prev.last_event_at, ts)) return;
  let next: ServiceState = prev;
  if (!fresh?.has(prev)) {
    // A literal of the one shape (not a spread).
    next = {
      node: prev.node,
      service: prev.service,
      status: prev.status,
      reason: prev.reason,
      since: prev.since,
      last_event_at: prev.last_event_at,
      last_healthy_at: prev.last_healthy_at,
      last_incident: prev.last_incident,
      changes: prev.changes,
    };
    model.services[key] = next;
    fresh?.add(next);
  }
  if (healthyAt) next.last_healthy_at = ts;
  if (!later(prev.last_event_at, ts)) return;
  next.last_event_at = ts;
  if (prev.status !== status) {
    if (status === 'healthy') {
      // The incident is named by the reason it began with (and the one it ended with, if another).
      const first = model.first_reasons && key in model.first_reasons ? model.first_reasons[key]! : prev.reason;
      next.last_incident = first === prev.reason ? { reason: first, started_at: prev.since, resolved_at: ts } : { reason: first, last_reason: prev.reason, started_at: prev.since, resolved_at: ts };
    }
    if (model.first_reasons && key in model.first_reasons) delete model.first_reasons[key];
    next.status = status;
    next.reason = reason;
    next.since = ts;
    next.changes = [...prev.changes, ts].slice(-CHANGES_KEPT);
  } else if (status === 'unhealthy' && prev.reason !== reason) {
    // Still unhealthy, for a new reason: the reason follows, `since` and the first reason (kept
    // aside) the incident's start.
    const firsts = (model.first_reasons ??= {});
    if (!(key in firsts)) firsts[key] = prev.reason;
    next.reason = reason;
  }
  if (event.type === 'service_recovered' && !next.last_incident) {
    const r = event.detail?.reason;
    next.last_incident = { reason: typeof r === 'string' ? r : null, started_at: null, resolved_at: ts };
  }
}

export interface RenderConfig {
  agentSilentAfterS: number;
  worldPruneAfterH: number;
}

export function byKey<T>(entries: [string, T][]): Record<string, T> {
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return Object.fromEntries(entries);
}

/**
 * The world's services, and the first time at which one of them is old enough to be pruned (the
 * same model, desired state and clock before then give the same services: world-render.ts).
 */
export function renderServices(model: ObserverModel, desired: DesiredState, cfg: RenderConfig & ObserveConfig, now: number): { services: World['services']; nextPruneAt: number } {
  const pruneMs = cfg.worldPruneAfterH * 3_600_000;
  const pruneBefore = now - pruneMs;
  let nextPruneAt = Infinity;
  const services: [string, ServiceState][] = [];
  // A node whose agent cannot reach its engine: what its services do is unknown, not "missing".
  const blind = (node: string) => model.nodes[node]?.engine === 'unreachable';
  for (const key of sortedKeys(model.services, cfg)) {
    const s = model.services[key]!;
    const wanted = desired[s.node]?.services[s.service] !== undefined;
    if (!wanted) {
      const at = Date.parse(s.last_event_at);
      if (at < pruneBefore) continue;
      if (at + pruneMs < nextPruneAt) nextPruneAt = at + pruneMs;
    }
    // Shared with the model: applyServiceEvent replaces a service object, never changes it.
    services.push([key, blind(s.node) ? { ...s, status: 'unknown', reason: 'engine_unreachable', since: model.nodes[s.node]!.engine_since ?? s.since } : s]);
  }
  let sorted = true;
  for (const dn of Object.values(desired)) {
    if (!blind(dn.node)) continue;
    const since = model.nodes[dn.node]!.engine_since ?? model.nodes[dn.node]!.last_seen ?? new Date(now).toISOString();
    for (const ds of Object.values(dn.services)) {
      const key = `${dn.node}/${ds.service}`;
      if (!ds.monitor || model.services[key]) continue;
      services.push([key, { node: dn.node, service: ds.service, status: 'unknown', reason: 'engine_unreachable', since, last_event_at: since, last_healthy_at: null, last_incident: null, changes: NO_CHANGES }]);
      sorted = false;
    }
  }
  return { services: sorted ? Object.fromEntries(services) : byKey(services), nextPruneAt };
}

/**
 * The model's service keys that can be in the world, sorted: not ghosts (the key is
 * `<canonical node>/<service>` with valid names). Worked out again only when keys were added
 * (keys are never removed, and a service object's node and service never change).
 */
const sortedKeyCache = new WeakMap<object, { count: number; cfg: ObserveConfig; keys: string[] }>();
function sortedKeys(services: Record<string, ServiceState>, cfg: ObserveConfig): string[] {
  let count = 0;
  for (const _ in services) count++;
  const hit = sortedKeyCache.get(services);
  if (hit && hit.count === count && hit.cfg === cfg) return hit.keys;
  const keys = Object.keys(services)
    .filter((key) => {
      const s = services[key]!;
      return key === `${s.node}/${s.service}` && NAME_RE.test(s.node) && NAME_RE.test(s.service) && canonicalNode(s.node, cfg) === s.node;
    })
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  sortedKeyCache.set(services, { count, cfg, keys });
  return keys;
}
