// Two agents for one node at once (docs/design/observer.md): told from the instances' heartbeats.
import type { NodeState, World } from './schemas.js';

/**
 * Agent instances of one node running at once: each heard of recently (within three of its
 * intervals, or the silence threshold), with heartbeats that interleave — one's first heartbeat
 * before the other's last, both ways. A restart (the old instance's last heartbeat before the new
 * one's first) is not two agents. Returns the ids, sorted, or undefined.
 */
export function agentsRunning(node: NodeState, now: number, silentAfterS: number): string[] | undefined {
  const agents = node.agents;
  if (!agents) return undefined;
  const current = Object.entries(agents).filter(([, a]) => now - Date.parse(a.last) <= Math.max(3 * (a.interval_s ?? 0), silentAfterS) * 1000);
  const running = new Set<string>();
  for (const [i, [x, a]] of current.entries()) {
    for (const [y, b] of current.slice(i + 1)) {
      if (a.first < b.last && b.first < a.last) running.add(x).add(y);
    }
  }
  return running.size ? [...running].sort() : undefined;
}

/** The nodes of a world with two or more agents running at once, for /healthz. */
export function nodesWithAgentsRunning(world: World): { node: string; instances: string[] }[] {
  return Object.values(world.nodes).flatMap((n) => (n.agents_running ? [{ node: n.node, instances: n.agents_running }] : []));
}
