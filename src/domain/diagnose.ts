// Why a flood of pending actions? Which nodes sent no service_healthy recently: a pure function of
// the world, the desired state and the time (the bot's /recover → Diagnose renders it).
import type { DesiredState, World } from './schemas.js';

/** A node whose newest service_healthy is older than this is suspect. */
export const STALE_HEALTHY_MS = 15 * 60_000;

export interface NodeDiagnosis {
  node: string;
  agent: 'alive' | 'silent';
  /** Monitored services that reported at least once, of `monitored`. */
  reported: number;
  monitored: number;
  /** The newest service_healthy of any of its services, or null. */
  last_healthy: string | null;
  /** No service_healthy for STALE_HEALTHY_MS, or some service never reported. */
  suspect: boolean;
}

export interface Diagnosis {
  nodes: NodeDiagnosis[];
  suspects: number;
}

export function diagnose(world: World, desired: DesiredState, now: number): Diagnosis {
  const nodes: NodeDiagnosis[] = [];
  for (const dn of Object.values(desired)) {
    const monitored = Object.values(dn.services).filter((s) => s.monitor);
    if (monitored.length === 0) continue;
    const entries = monitored.map((s) => world.services[`${dn.node}/${s.service}`]);
    const reported = entries.filter(Boolean).length;
    const healthy = entries.map((e) => e?.last_healthy_at ?? null).filter((x): x is string => x !== null);
    const last = healthy.sort().at(-1) ?? null;
    const stale = last === null || now - Date.parse(last) > STALE_HEALTHY_MS;
    nodes.push({ node: dn.node, agent: world.nodes[dn.node]?.agent ?? 'silent', reported, monitored: monitored.length, last_healthy: last, suspect: stale || reported < monitored.length });
  }
  return { nodes, suspects: nodes.filter((n) => n.suspect).length };
}
