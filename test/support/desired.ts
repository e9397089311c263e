// Desired state for tests, in the short form: node → service → { containers, monitor }.
import { DEFAULT_HEAL, type DesiredState, type HealPolicy, type UpdatePolicy } from '../../src/domain/schemas.js';

export function desiredState(spec: Record<string, Record<string, { containers?: string[]; monitor?: boolean; auto_approve?: boolean; updates?: UpdatePolicy; depends_on?: string[]; heal?: Partial<HealPolicy> }>>): DesiredState {
  const out: DesiredState = {};
  for (const [node, services] of Object.entries(spec)) {
    out[node] = {
      node,
      docker: { socket: '/var/run/docker.sock' },
      maintenance: [],
      services: Object.fromEntries(
        Object.entries(services).map(([service, s]) => [
          service,
          { node, service, containers: s.containers ?? [service], monitor: s.monitor !== false, auto_approve: s.auto_approve === true, updates: s.updates ?? 'off', depends_on: s.depends_on ?? [], heal: { ...DEFAULT_HEAL, ...s.heal }, maintenance: [] },
        ]),
      ),
    };
  }
  return out;
}
