// The services part of the summary, node by node (docs/operator/http-api.md, "Caching"): each
// node's counts and lists are kept and worked out again only for the nodes whose services changed
// since the last summary (the world renderer says which, world-render.ts), so a summary of 50 000
// services costs the nodes that moved, not the fleet. Without that word — another world record,
// another desired state, a render made whole — every node is worked out again. summarize() gives
// the same summary either way (a property test compares both).
import type { DesiredState, World } from './schemas.js';
import { keysByNode, type WorldChanges } from './world-render.js';

export interface UnhealthyShown {
  key: string;
  node: string;
  service: string;
  reason: string | null;
  since: string;
  desired: boolean;
}
export interface UnknownShown {
  key: string;
  node: string;
  service: string;
  reason: string | null;
  since: string;
}
export interface MissingShown {
  key: string;
  node: string;
  service: string;
}

/** One node's services as the summary counts them (by the node each service names). */
export interface NodeTally {
  counts: Map<string, { total: number; healthy: number; unknown: number }>;
  unhealthy: UnhealthyShown[];
  unknown: UnknownShown[];
  missing: MissingShown[];
}

export class SummaryTally {
  private seen: { services: World['services']; desired: DesiredState; generation: number } | undefined;
  private groups = new Map<string, string[]>();
  private readonly tallies = new Map<string, NodeTally>();
  /** Nodes worked out by the last call (for tests). */
  made = 0;

  /** Each node's tally: the world's groups in their order, then the desired nodes without services. */
  tally(world: World, desired: DesiredState, changes?: WorldChanges): { groups: ReadonlyMap<string, NodeTally>; order: readonly string[] } {
    const s = this.seen;
    const since = changes && s && s.services === world.services && s.desired === desired ? changes.changedSince(s.generation) : 'all';
    this.made = 0;
    if (since === 'all') {
      this.groups = keysByNode(world.services);
      this.tallies.clear();
    }
    const order = [...this.groups.keys()];
    for (const node of Object.keys(desired)) if (!this.groups.has(node)) order.push(node);
    for (const node of order) {
      if (since !== 'all' && !since.has(node) && this.tallies.has(node)) continue;
      this.tallies.set(node, tallyNode(world, desired, node, this.groups.get(node) ?? []));
      this.made++;
    }
    this.seen = { services: world.services, desired, generation: changes?.generation ?? 0 };
    return { groups: this.tallies, order };
  }
}

function tallyNode(world: World, desired: DesiredState, node: string, keys: readonly string[]): NodeTally {
  const t: NodeTally = { counts: new Map(), unhealthy: [], unknown: [], missing: [] };
  for (const key of keys) {
    const s = world.services[key]!;
    let c = t.counts.get(s.node);
    if (!c) t.counts.set(s.node, (c = { total: 0, healthy: 0, unknown: 0 }));
    c.total++;
    if (s.status === 'healthy') c.healthy++;
    else if (s.status === 'unknown') {
      c.unknown++;
      t.unknown.push({ key, node: s.node, service: s.service, reason: s.reason, since: s.since });
    } else t.unhealthy.push({ key, node: s.node, service: s.service, reason: s.reason, since: s.since, desired: desired[s.node]?.services[s.service]?.monitor === true });
  }
  const dn = desired[node];
  if (dn) for (const ds of Object.values(dn.services)) if (ds.monitor && !world.services[`${node}/${ds.service}`]) t.missing.push({ key: `${node}/${ds.service}`, node, service: ds.service });
  return t;
}
