// Dependencies between the services of one node (docs/design/supervisor.md, "Root cause first"):
// declared in services.yaml (`depends_on`) or learned from the engine (a container in another's
// network namespace, a compose `depends_on` label). Pure: the graph, its checks, and which
// unhealthy service is the root cause of which others.
import type { Action, Chain } from './actions.js';
import type { DesiredNode, DesiredService, DesiredState, World, WorldNode } from './schemas.js';

/** One edge: `service` depends on `on`. */
export interface DependencyEdge {
  service: string;
  on: string;
  /** Where it came from: services.yaml, or what the engine reported. */
  source: 'services.yaml' | 'engine';
  /** How the engine tells it: the container shares `on`'s network namespace, or compose says so. */
  how?: 'network' | 'compose';
}

/** One dependency as the page, /status, /ai-context and `check` show it: where it came from too. */
export interface DependencyShown {
  node: string;
  service: string;
  /** The service it depends on; null: a container services.yaml does not name (shown, not acted on). */
  on: string | null;
  source: 'services.yaml' | 'engine';
  how?: 'network' | 'compose';
  container?: string;
}

/** Every dependency of the desired state and the world, declared ones first, sorted. */
export function dependencyList(desired: DesiredState, world: Pick<World, 'nodes'> | undefined): DependencyShown[] {
  const out: DependencyShown[] = [];
  for (const dn of Object.values(desired)) {
    for (const d of declaredOf(dn)) out.push({ ...d });
    for (const [service, l] of Object.entries(world?.nodes[dn.node]?.links ?? {})) {
      if (!dn.services[service]) continue;
      for (const link of l.on) {
        if (link.on !== null && (dn.services[service]!.depends_on ?? []).includes(link.on)) continue;
        out.push({ node: dn.node, service, on: link.on, source: 'engine', how: link.how, container: link.container });
      }
    }
  }
  return out.sort((a, b) => (a.node + a.service + (a.on ?? '') < b.node + b.service + (b.on ?? '') ? -1 : 1));
}

/** A node's declared dependencies, worked out once per desired node (the summary asks at every build). */
const declared = new WeakMap<DesiredState[string], readonly DependencyShown[]>();
function declaredOf(dn: DesiredState[string]): readonly DependencyShown[] {
  let out = declared.get(dn);
  if (!out) {
    const list: DependencyShown[] = [];
    for (const s of Object.values(dn.services)) for (const on of s.depends_on ?? []) list.push({ node: dn.node, service: s.service, on, source: 'services.yaml' });
    declared.set(dn, (out = list));
  }
  return out;
}

/** `nas: a1 → vpn (services.yaml)`, `nas: a2 → vpn (engine: network)`, `nas: a3 → stranger (engine: network, not in services.yaml: not acted on)`. */
export function dependencyLine(d: DependencyShown): string {
  const on = d.on ?? d.container ?? '?';
  const from = d.source === 'engine' ? `engine: ${d.how ?? 'link'}${d.on === null ? `, container ${d.container} is not in services.yaml: shown, not acted on` : ''}` : 'services.yaml';
  return `${d.node}: ${d.service} → ${on} (${from})`;
}

/** The edges the engine reported for a node's services (world: node.links); links to containers services.yaml does not name are left out. */
export function learnedEdges(node: WorldNode | undefined): DependencyEdge[] {
  const out: DependencyEdge[] = [];
  for (const [service, l] of Object.entries(node?.links ?? {})) for (const link of l.on) if (link.on !== null) out.push({ service, on: link.on, source: 'engine', how: link.how });
  return out;
}

/** A problem with a service's `depends_on` list: the entry (its index) and why. */
export interface DependsOnProblem {
  service: string;
  index: number;
  reason: string;
}

/**
 * The refusals of item `depends_on` (services of this node only): an unknown name, a service of
 * another node (`node/service`), itself, a duplicate, and a cycle (named: `vpn → app → vpn`).
 */
export function dependsOnProblems(services: Readonly<Record<string, { depends_on?: readonly string[] | undefined } | null>>): DependsOnProblem[] {
  const out: DependsOnProblem[] = [];
  const names = Object.keys(services);
  const list = names.length ? [...names].sort().join(', ') : 'none';
  const adj = new Map<string, string[]>();
  for (const [service, s] of Object.entries(services)) {
    const deps = s?.depends_on ?? [];
    const good: string[] = [];
    deps.forEach((on, index) => {
      if (on.includes('/')) out.push({ service, index, reason: `${on} is a service of node ${on.split('/')[0]}: depends_on names services of this node only` });
      else if (on === service) out.push({ service, index, reason: `${service} cannot depend on itself` });
      else if (!(on in services)) out.push({ service, index, reason: `no service ${JSON.stringify(on)} in this file (services: ${list})` });
      else if (good.includes(on)) out.push({ service, index, reason: `${on} is named twice` });
      else good.push(on);
    });
    adj.set(service, good);
  }
  const cycle = findCycle(adj);
  if (cycle) {
    const service = cycle[0]!;
    out.push({ service, index: (services[service]?.depends_on ?? []).indexOf(cycle[1]!), reason: `depends_on makes a cycle: ${cycle.join(' → ')}` });
  }
  return out;
}

/** A cycle in `adj` (service → what it depends on), as the path that closes it, or undefined. */
export function findCycle(adj: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const m of adj.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of [...adj.keys()].sort()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

/**
 * The edges of one node: declared ones, then learned ones services.yaml does not already declare.
 * A learned edge that would close a cycle is left out (the declared graph is acyclic by load).
 */
export function nodeEdges(services: Readonly<Record<string, { depends_on?: readonly string[] }>>, learned: readonly DependencyEdge[] = []): DependencyEdge[] {
  const out: DependencyEdge[] = [];
  for (const [service, s] of Object.entries(services)) for (const on of s.depends_on ?? []) out.push({ service, on, source: 'services.yaml' });
  for (const e of learned) {
    if (!(e.service in services) || !(e.on in services) || e.service === e.on) continue;
    if (out.some((x) => x.service === e.service && x.on === e.on)) continue;
    const adj = adjacency([...out, e]);
    if (findCycle(adj)) continue;
    out.push(e);
  }
  return out;
}

function adjacency(edges: readonly DependencyEdge[]): Map<string, string[]> {
  const adj = new Map<string, string[]>();
  for (const e of edges) adj.set(e.service, [...(adj.get(e.service) ?? []), e.on]);
  return adj;
}

/**
 * The root causes of each unhealthy service: the unhealthy services it depends on (directly or
 * through others) that themselves depend on nothing unhealthy. Empty for a service that is a
 * root itself (unhealthy while everything it depends on is not).
 */
export function rootCauses(edges: readonly DependencyEdge[], unhealthy: ReadonlySet<string>): Map<string, string[]> {
  const adj = adjacency(edges);
  const ancestors = (s: string): Set<string> => {
    const seen = new Set<string>();
    const todo = [...(adj.get(s) ?? [])];
    while (todo.length) {
      const n = todo.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      todo.push(...(adj.get(n) ?? []));
    }
    return seen;
  };
  const rootsOf = new Map<string, string[]>();
  for (const s of [...unhealthy].sort()) {
    const bad = [...ancestors(s)].filter((a) => unhealthy.has(a));
    rootsOf.set(s, bad.filter((a) => ![...ancestors(a)].some((b) => unhealthy.has(b))).sort());
  }
  return rootsOf;
}

/**
 * Every service that depends on `root`, directly or through others, each after what it depends
 * on among them (ties by name): the order a chain heals them in. `graph` is built once per node
 * (graphOf), so each root costs its own dependents, not the node's edges.
 */
export function dependentsInOrder(graph: Graph, root: string): string[] {
  const set = new Set<string>();
  const todo = [...(graph.dependents.get(root) ?? [])];
  while (todo.length) {
    const n = todo.pop()!;
    if (set.has(n) || n === root) continue;
    set.add(n);
    todo.push(...(graph.dependents.get(n) ?? []));
  }
  // Kahn's order within the set: a service goes once everything it depends on in the set has.
  const waiting = new Map<string, number>();
  for (const n of set) waiting.set(n, (graph.dependencies.get(n) ?? []).filter((d) => set.has(d)).length);
  const out: string[] = [];
  const ready = [...set].filter((n) => waiting.get(n) === 0).sort();
  while (ready.length) {
    const n = ready.shift()!;
    out.push(n);
    const freed: string[] = [];
    for (const m of graph.dependents.get(n) ?? []) {
      if (!set.has(m)) continue;
      const left = waiting.get(m)! - 1;
      waiting.set(m, left);
      if (left === 0) freed.push(m);
    }
    if (freed.length) {
      ready.push(...freed);
      ready.sort();
    }
  }
  return out;
}

/** A node's edges both ways, built once per pass. */
export interface Graph {
  /** service → what it depends on */
  dependencies: Map<string, string[]>;
  /** service → what depends on it */
  dependents: Map<string, string[]>;
}

export function graphOf(edges: readonly DependencyEdge[]): Graph {
  const g: Graph = { dependencies: new Map(), dependents: new Map() };
  for (const e of edges) {
    g.dependencies.set(e.service, [...(g.dependencies.get(e.service) ?? []), e.on]);
    g.dependents.set(e.on, [...(g.dependents.get(e.on) ?? []), e.service]);
  }
  return g;
}

/** What the dependencies of one node's services mean for this pass (docs/design/supervisor.md, "Root cause first"). */
export interface DependencyView {
  /** An unhealthy service whose root cause is another (or that an open chain brings back) → that root. */
  coveredBy: Map<string, string>;
  /** A root cause's chain: its dependents, in order. */
  chainOf: Map<string, Chain>;
  /** Services that depend on another (declared or learned): they wait `dependentSettleS` first. */
  dependents: Set<string>;
}

export function dependencyView(input: {
  node: DesiredNode;
  world: World;
  open: readonly Action[];
  learned: readonly DependencyEdge[] | undefined;
  /** The node's agent is silent or its engine unreachable: nothing it says is current. */
  blind: boolean;
  /** A service not reported yet is not missing while this holds. */
  inGrace: (s: DesiredService) => boolean;
}): DependencyView {
  const { node: dn, blind, inGrace } = input;
  const view: DependencyView = { coveredBy: new Map(), chainOf: new Map(), dependents: new Set() };
  const edges = nodeEdges(dn.services, input.learned);
  if (edges.length === 0) return view;
  for (const e of edges) view.dependents.add(e.service);
  const unhealthy = new Set<string>();
  for (const s of Object.values(dn.services)) {
    if (!s.monitor) continue;
    const w = input.world.services[`${dn.node}/${s.service}`];
    if (w ? w.status === 'unhealthy' : !blind && !inGrace(s)) unhealthy.add(s.service);
  }
  for (const [s, roots] of rootCauses(edges, unhealthy)) if (roots.length > 0) view.coveredBy.set(s, roots[0]!);
  const graph = graphOf(edges);
  // Every dependent of a root, whatever its health now: the chain is the graph's, so it does not
  // change (nor its message) as they fail one after the other.
  for (const r of unhealthy) {
    if (view.coveredBy.has(r)) continue;
    const dependents = dependentsInOrder(graph, r);
    if (dependents.length === 0) continue;
    view.chainOf.set(r, {
      dependents: dependents.map((d) => ({
        service: d,
        containers: dn.services[d]?.containers ?? [d],
        needs: (graph.dependencies.get(d) ?? []).filter((on) => on !== r && !dependents.includes(on)).sort(),
      })),
    });
  }
  // A dependent an open chain names stays quiet until that action is done.
  for (const a of input.open) {
    if (a.node !== dn.node || !a.chain || !a.service) continue;
    for (const step of a.chain.dependents) if (unhealthy.has(step.service) && !view.coveredBy.has(step.service)) view.coveredBy.set(step.service, a.service);
  }
  return view;
}
