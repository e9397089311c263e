// One summary of the whole system, shared by /status, GET /summary, the page and the digest.
import type { Action, ActionState } from './actions.js';
import type { DesiredState, World } from './schemas.js';
import { dependencyList, type DependencyShown } from './dependencies.js';
import { budgetList, type BudgetShown, type HealBudgets } from './heal-budget.js';
import { SummaryTally } from './summary-tally.js';
import type { WorldChanges } from './world-render.js';

export interface BriefAction {
  id: string;
  instance: string;
  type: string;
  risk: string;
  node: string;
  service: string | null;
  trigger: string;
  state: ActionState;
  created_at: string;
  updated_at: string;
  error?: string;
  cancel_reason?: string;
  verified?: boolean;
}

export interface NoticeBrief {
  key: string;
  kind: string;
  node: string;
  service?: string;
  message: string;
  opened_at: string;
}

export interface Summary {
  generated_at: string;
  version: string;
  nodes: {
    node: string;
    agent: 'alive' | 'silent';
    /** What the agent says of the node's Docker Engine; null before it said anything. */
    engine: 'reachable' | 'unreachable' | null;
    engine_since: string | null;
    /** True when services.yaml has a service the agent watches (monitor not false). */
    watched: boolean;
    last_seen: string | null;
    last_seen_age_s: number | null;
    disk_pressure: 'high' | 'normal' | null;
    disk_used_pct: number | null;
    desired: boolean;
    services: { total: number; healthy: number; unhealthy: number; unknown: number; missing: number };
  }[];
  services: {
    total: number;
    healthy: number;
    unhealthy: number;
    /** Services of nodes whose agent cannot reach the engine. */
    unknown: number;
    missing: number;
    unhealthy_list: { key: string; node: string; service: string; reason: string | null; since: string; desired: boolean }[];
    unknown_list: { key: string; node: string; service: string; reason: string | null; since: string }[];
    missing_list: { key: string; node: string; service: string }[];
  };
  actions: { counts: Record<ActionState, number>; pending: BriefAction[]; running: BriefAction[]; approved: BriefAction[] };
  notices: NoticeBrief[];
  config_errors: { file: string; line: number; reason: string }[];
  /** What depends on what, and where each edge came from (docs/operator/dependencies.md). */
  dependencies: DependencyShown[];
  /** Restart budgets of the services that have heals on record (every other one is whole). */
  heal_budgets: BudgetShown[];
  observer: { events_applied: number; malformed_lines: number; duplicates: number; unknown_events: number };
  /** What the data under HOMELAB_ROOT takes, by kind, and what retention keeps (after its first pass). */
  data?: DataShown;
}

/** Bytes per kind (events, snapshot, actions, evidence, archive), when measured, and the retention settings. */
export interface DataShown {
  bytes: Record<string, number>;
  measured_at: string;
  retention: { events_days: number; actions_days: number; archive: boolean };
}

export interface SummaryInput {
  world: World;
  desired: DesiredState;
  open: readonly Action[];
  counts: Record<ActionState, number>;
  notices: readonly NoticeBrief[];
  configErrors: readonly { file: string; line: number; reason: string }[];
  observer: { applied: number; malformed: number; duplicate: number; unknown: number };
  version: string;
  now: number;
  /** Heals on record per service (state/heal-budgets.json). */
  heals?: HealBudgets;
  data?: DataShown;
  /** Each node's part of the services kept between summaries, and what tells which changed. */
  tally?: SummaryTally;
  changes?: WorldChanges;
}

export function brief(a: Action): BriefAction {
  return {
    id: a.id,
    instance: a.instance,
    type: a.type,
    risk: a.risk,
    node: a.node,
    service: a.service ?? null,
    trigger: a.trigger,
    state: a.state,
    created_at: a.created_at,
    updated_at: a.updated_at,
    ...(a.error ? { error: a.error } : {}),
    ...(a.cancel_reason ? { cancel_reason: a.cancel_reason } : {}),
    ...(typeof a.verified === 'boolean' ? { verified: a.verified } : {}),
  };
}

/**
 * The services part: counts per node and the lists, node by node — each node's part kept while
 * its services do not change (summary-tally.ts) — in the world's order, missing ones in the
 * desired state's.
 */
function servicesPart(input: SummaryInput) {
  const { world, desired } = input;
  const unhealthy: Summary['services']['unhealthy_list'] = [];
  const unknown: Summary['services']['unknown_list'] = [];
  const missing: Summary['services']['missing_list'] = [];
  const perNode = new Map<string, { total: number; healthy: number; unknown: number; missing: number }>();
  const countsOf = (node: string) => {
    let c = perNode.get(node);
    if (!c) perNode.set(node, (c = { total: 0, healthy: 0, unknown: 0, missing: 0 }));
    return c;
  };
  let healthy = 0;
  const { groups, order } = (input.tally ?? new SummaryTally()).tally(world, desired, input.changes);
  for (const node of order) {
    const t = groups.get(node)!;
    for (const [name, n] of t.counts) {
      const c = countsOf(name);
      c.total += n.total;
      c.healthy += n.healthy;
      c.unknown += n.unknown;
      healthy += n.healthy;
    }
    for (const u of t.unhealthy) unhealthy.push(u);
    for (const u of t.unknown) unknown.push(u);
  }
  for (const node of Object.keys(desired)) {
    for (const m of groups.get(node)?.missing ?? []) {
      missing.push(m);
      countsOf(m.node).missing++;
    }
  }
  return { unhealthy, unknown, missing, perNode, healthy };
}

/** Whether a desired node has a service its agent watches, worked out once per desired node (a build lists every node). */
const watchedOf = new WeakMap<object, boolean>();
function watched(node: DesiredState[string] | undefined): boolean {
  if (!node) return false;
  let w = watchedOf.get(node);
  if (w === undefined) {
    w = false;
    for (const name in node.services) if (node.services[name]!.monitor) w = true;
    watchedOf.set(node, w);
  }
  return w;
}

export function summarize(input: SummaryInput): Summary {
  const { world, desired, now } = input;
  const nodeNames = [...new Set([...Object.keys(world.nodes), ...Object.keys(desired)])].sort();
  const { unhealthy, unknown, missing, perNode, healthy } = servicesPart(input);
  unhealthy.sort((a, b) => (a.since < b.since ? -1 : 1));
  const nodes = nodeNames.map((name) => {
    const w = world.nodes[name];
    const c = perNode.get(name) ?? { total: 0, healthy: 0, unknown: 0, missing: 0 };
    return {
      node: name,
      agent: w?.agent ?? 'silent',
      engine: w?.engine ?? null,
      engine_since: w?.engine_since ?? null,
      watched: watched(desired[name]),
      last_seen: w?.last_seen ?? null,
      last_seen_age_s: w?.last_seen ? Math.max(0, Math.round((now - Date.parse(w.last_seen)) / 1000)) : null,
      disk_pressure: w?.disk_pressure ?? null,
      disk_used_pct: w?.disk_used_pct ?? null,
      desired: desired[name] !== undefined,
      services: { total: c.total, healthy: c.healthy, unhealthy: c.total - c.healthy - c.unknown, unknown: c.unknown, missing: c.missing },
    };
  });
  const byState = (s: ActionState) => input.open.filter((a) => a.state === s).map(brief);
  return {
    generated_at: new Date(now).toISOString(),
    version: input.version,
    nodes,
    services: {
      total: [...perNode.values()].reduce((n, c) => n + c.total, 0),
      healthy,
      unhealthy: unhealthy.length,
      unknown: unknown.length,
      missing: missing.length,
      unhealthy_list: unhealthy,
      unknown_list: unknown,
      missing_list: missing,
    },
    actions: { counts: input.counts, pending: byState('pending'), approved: byState('approved'), running: byState('running') },
    notices: [...input.notices],
    config_errors: input.configErrors.map((p) => ({ file: p.file, line: p.line, reason: p.reason })),
    dependencies: dependencyList(desired, world),
    heal_budgets: budgetList(desired, input.heals ?? {}, now),
    observer: {
      events_applied: input.observer.applied,
      malformed_lines: input.observer.malformed,
      duplicates: input.observer.duplicate,
      unknown_events: input.observer.unknown,
    },
    ...(input.data ? { data: { bytes: input.data.bytes, measured_at: input.data.measured_at, retention: input.data.retention } } : {}),
  };
}

/**
 * The same summary as of `now`: only what moves with the clock (generated_at, each node's
 * last_seen_age_s) is computed again — what the routes do every second between changes.
 */
export function restamp(s: Summary, now: number): Summary {
  return {
    ...s,
    generated_at: new Date(now).toISOString(),
    nodes: s.nodes.map((n) => ({ ...n, last_seen_age_s: n.last_seen ? Math.max(0, Math.round((now - Date.parse(n.last_seen)) / 1000)) : null })),
  };
}

export function ago(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
}

/** Services services.yaml asks to watch that world state has never heard of. */
export function missingServices(world: { services: Readonly<Record<string, unknown>> }, desired: DesiredState): { key: string; node: string; service: string }[] {
  const out: { key: string; node: string; service: string }[] = [];
  for (const dn of Object.values(desired)) {
    for (const s of Object.values(dn.services)) if (s.monitor && !world.services[`${dn.node}/${s.service}`]) out.push({ key: `${dn.node}/${s.service}`, node: dn.node, service: s.service });
  }
  return out;
}
