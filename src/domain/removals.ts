// Protection against a bulk removal: more than a few watched services gone from services.yaml at
// once is held until an operator confirms it (a truncated file must not cancel everything).
import type { DesiredState } from './schemas.js';

/** node → monitored services an operator has accepted. */
export type Accepted = Record<string, string[]>;

export const BULK_REMOVAL_MAX = 5;
export const BULK_REMOVAL_FRACTION = 0.25;

export function monitoredServices(desired: DesiredState): Accepted {
  const out: Accepted = {};
  for (const dn of Object.values(desired)) {
    out[dn.node] = Object.values(dn.services)
      .filter((s) => s.monitor)
      .map((s) => s.service)
      .sort();
  }
  return out;
}

/**
 * Compares the desired state with what was last accepted. A change that would remove more than
 * 5 services, or more than a quarter of a node's services (and more than one), is held: those
 * removals wait for `confirmed`. A single service removed is never a bulk removal.
 */
export function reviewRemovals(accepted: Accepted | undefined, desired: DesiredState, confirmed: readonly string[] = []): { held: Record<string, string[]>; accepted: Accepted } {
  const current = monitoredServices(desired);
  if (!accepted) return { held: {}, accepted: current };
  const removedByNode: Record<string, string[]> = {};
  let total = 0;
  for (const [node, before] of Object.entries(accepted)) {
    const now = new Set(current[node] ?? []);
    const removed = before.filter((s) => !now.has(s));
    if (removed.length > 0 && !confirmed.includes(node)) {
      removedByNode[node] = removed;
      total += removed.length;
    }
  }
  const held: Record<string, string[]> = {};
  for (const [node, removed] of Object.entries(removedByNode)) {
    const before = accepted[node]!.length;
    const bulk = total > BULK_REMOVAL_MAX || (removed.length > 1 && removed.length / before > BULK_REMOVAL_FRACTION);
    if (bulk) held[node] = removed;
  }
  const next: Accepted = {};
  for (const node of new Set([...Object.keys(accepted), ...Object.keys(current)])) {
    const cur = current[node] ?? [];
    if (held[node]) next[node] = [...new Set([...accepted[node]!, ...cur])].sort();
    else if (cur.length > 0) next[node] = cur;
  }
  return { held, accepted: next };
}
