// The notices about the desired state itself: a services.yaml that does not load, and a bulk
// removal held for an operator's confirmation. Part of plan() (plan.ts).
import type { DesiredState } from './schemas.js';
import { maintenanceMessage, type Maintenance } from './maintenance.js';

export type NoticeKind = 'node_silent' | 'engine_unreachable' | 'desired_invalid' | 'bulk_removal_held' | 'flapping' | 'image_update_available' | 'agents_running' | 'maintenance' | 'maintenance_ended';
export interface Notice {
  key: string;
  kind: NoticeKind;
  node: string;
  service?: string;
  message: string;
  /** Changes when the notice says something new (for example a different broken file). */
  revision: string;
  detail?: Record<string, unknown>;
}

export interface DesiredProblemRef {
  node: string;
  file: string;
  line: number;
  reason: string;
}


/** Nodes whose file is broken: one notice per node, naming the first problem. */
export function problemNotices(input: { desiredProblems: readonly DesiredProblemRef[]; desired: DesiredState }, notices: Notice[]): void {
  const problemsByNode = new Map<string, DesiredProblemRef[]>();
  for (const p of input.desiredProblems) problemsByNode.set(p.node, [...(problemsByNode.get(p.node) ?? []), p]);
  for (const [node, problems] of problemsByNode) {
    const first = problems[0]!;
    notices.push({
      key: `desired-invalid-${node || 'hosts'}`,
      kind: 'desired_invalid',
      node,
      message: `${first.file}:${first.line}: ${first.reason}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}. ${input.desired[node] ? 'The last good version stays in force' : `${node} is left out until the file is fixed`}; run control-plane check.`,
      revision: problems.map((p) => `${p.line}:${p.reason}`).join('|'),
      detail: { problems: problems.map((p) => ({ file: p.file, line: p.line, reason: p.reason })) },
    });
  }
}

/** A bulk removal waiting for its confirmation: one notice per node. */
export function heldNotices(input: { held: Readonly<Record<string, readonly string[]>> }, notices: Notice[]): void {
  for (const [node, held] of Object.entries(input.held)) {
    if (held.length === 0) continue;
    notices.push({
      key: `bulk-removal-${node}`,
      kind: 'bulk_removal_held',
      node,
      message: `hosts/${node}/services.yaml removes ${held.length} services at once (${held.slice(0, 8).join(', ')}${held.length > 8 ? ', …' : ''}). Nothing is cancelled for them until an operator confirms: control-plane actions confirm-removal ${node}`,
      revision: [...held].sort().join(','),
      detail: { services: [...held] },
    });
  }
}

/** A maintenance in force: one notice per target while it lasts (maintenance.ts). */
export function maintenanceNotice(m: Maintenance, node: string, service?: string): Notice {
  return {
    key: `maintenance-${node}${service ? `-${service}` : ''}`,
    kind: 'maintenance',
    node,
    ...(service ? { service } : {}),
    message: maintenanceMessage(m),
    revision: `${m.source}:${m.until ?? ''}`,
    detail: { target: m.target, source: m.source, until: m.until },
  };
}
