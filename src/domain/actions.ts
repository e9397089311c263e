// Actions: their shape, ids, and the legal state graph (docs/design/supervisor.md, docs/design/claims.md). Pure.
import { z } from 'zod';

export const ACTION_STATES = ['pending', 'approved', 'running', 'completed', 'failed', 'rejected', 'cancelled'] as const;
export type ActionState = (typeof ACTION_STATES)[number];
export const OPEN_STATES: readonly ActionState[] = ['pending', 'approved', 'running'];
export const TERMINAL_STATES: readonly ActionState[] = ['completed', 'failed', 'rejected', 'cancelled'];
export const isOpen = (s: ActionState): boolean => OPEN_STATES.includes(s);

/** The legal transitions. Exactly one transition out of a state ever wins. */
export const TRANSITIONS: Readonly<Record<ActionState, readonly ActionState[]>> = {
  pending: ['approved', 'rejected', 'cancelled'],
  approved: ['running'],
  running: ['completed', 'failed'],
  completed: [],
  failed: [],
  rejected: [],
  cancelled: [],
};

export function canTransition(from: ActionState, to: ActionState): boolean {
  return TRANSITIONS[from].includes(to);
}

export const ActionType = z.enum(['container_restart', 'redeploy', 'disk_cleanup']);
export type ActionType = z.infer<typeof ActionType>;
export const Risk = z.enum(['low', 'guarded']);
export type Risk = z.infer<typeof Risk>;

export const Actor = z.object({
  id: z.union([z.number(), z.string()]).optional(),
  name: z.string().optional(),
  via: z.enum(['telegram', 'cli', 'file', 'policy', 'supervisor', 'executor', 'recovery']),
});
export type Actor = z.infer<typeof Actor>;

export const HistoryEntry = z.object({
  state: z.enum(ACTION_STATES),
  at: z.string(),
  by: z.string(),
  note: z.string().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const ActionSchema = z.looseObject({
  version: z.number().int().optional(),
  id: z.string().min(1).max(200),
  instance: z.string().regex(/^\d{8}T\d{6}Z(-\d+)?$/),
  type: ActionType,
  risk: Risk,
  node: z.string(),
  service: z.string().nullable().optional(),
  drift: z.string(),
  trigger: z.string(),
  state: z.enum(ACTION_STATES),
  created_at: z.string(),
  updated_at: z.string(),
  history: z.array(HistoryEntry),
  approved_by: Actor.optional(),
  rejected_by: Actor.optional(),
  cancel_reason: z.string().optional(),
  started_at: z.string().optional(),
  finished_at: z.string().optional(),
  result: z.unknown().optional(),
  error: z.string().optional(),
});
export type Action = z.infer<typeof ActionSchema>;

export const ACTION_VERSION = 1;

export const actionId = {
  containerRestart: (node: string, service: string) => `container-restart-${node}-${service}`,
  redeploy: (node: string, service: string) => `redeploy-${node}-${service}`,
  diskCleanup: (node: string) => `disk-cleanup-${node}`,
};

/** Which action a trigger asks for (docs/design/supervisor.md). */
export function actionForTrigger(trigger: string): { type: ActionType; risk: Risk } {
  if (trigger === 'containers_not_running' || trigger === 'mqtt_unreachable') return { type: 'container_restart', risk: 'low' };
  return { type: 'redeploy', risk: 'guarded' };
}

export function idFor(type: ActionType, node: string, service: string | null | undefined): string {
  if (type === 'disk_cleanup') return actionId.diskCleanup(node);
  if (type === 'container_restart') return actionId.containerRestart(node, service as string);
  return actionId.redeploy(node, service as string);
}

/** `20260527T140212Z` from an ISO time. */
export function instanceFrom(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** File name of an action in a state's directory. */
export function fileNameFor(a: { id: string; instance: string; state: ActionState }): string {
  return isOpen(a.state) ? `${a.id}.json` : `${a.id}@${a.instance}.json`;
}

/** Parses `<id>.json` or `<id>@<instance>.json`. Dot-names are not action files. */
export function parseFileName(name: string): { id: string; instance?: string } | undefined {
  if (name.startsWith('.') || !name.endsWith('.json')) return undefined;
  const base = name.slice(0, -5);
  const at = base.lastIndexOf('@');
  if (at === -1) return { id: base };
  return { id: base.slice(0, at), instance: base.slice(at + 1) };
}

export function describeAction(a: Pick<Action, 'type' | 'node' | 'service'>): string {
  switch (a.type) {
    case 'container_restart':
      return `restart the containers of ${a.service} on ${a.node}`;
    case 'redeploy':
      return `recreate the containers of ${a.service} on ${a.node} from their current configuration`;
    case 'disk_cleanup':
      return `prune stopped containers, dangling images and build cache on ${a.node} (never volumes)`;
  }
}
