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

export const ActionType = z.enum(['container_restart', 'redeploy', 'disk_cleanup', 'image_update']);
export const ACTION_TYPES = ActionType.options;
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

/** What a finished restart or redeploy did to one container. */
const ContainerOutcome = z.looseObject({
  container: z.string(),
  id: z.string().optional(),
  old_id: z.string().optional(),
  new_id: z.string().optional(),
  old_state: z.string().optional(),
  new_state: z.string().optional(),
  image: z.string().optional(),
  pulled: z.boolean().optional(),
  pull_error: z.string().optional(),
  ms: z.number().optional(),
});
const PruneOutcome = z.looseObject({ removed: z.number(), bytes: z.number(), error: z.string().optional(), skipped: z.string().optional() });

/**
 * `result` by action type: the containers a restart or redeploy handled; what a disk cleanup
 * reclaimed; the steps an interrupted action had done. (A shape none of these fits is kept as it
 * is, so an action file is never unreadable for its result.)
 */
export const ActionResult = z.union([
  z.looseObject({ containers: z.array(ContainerOutcome) }),
  z.looseObject({ containers: PruneOutcome, images: PruneOutcome, build_cache: PruneOutcome, bytes_total: z.number(), label: z.string().optional() }),
  z.looseObject({ steps_done: z.array(z.string()) }),
  z.record(z.string(), z.unknown()),
]);
export type ActionResult = z.infer<typeof ActionResult>;

/** Whether the service reported healthy after a completed restart or redeploy. */
export const Verification = z.object({
  verified: z.boolean(),
  /** Seconds from the end of the action to the healthy report. */
  after_s: z.number().optional(),
  at: z.string().optional(),
  note: z.string().optional(),
});

/** What the next start did about an interrupted redeploy's containers. */
export const Recovery = z.object({ at: z.string(), done: z.array(z.string()) });

/** One image an image_update moves its containers to (docs/design/updates.md). */
export const UpdateImage = z.object({
  /** The reference the containers' configuration names, kept as it is: `name:tag`. */
  image: z.string(),
  repository: z.string(),
  tag: z.string(),
  containers: z.array(z.string()),
  from_digest: z.string().nullable(),
  /** The digest pulled, exactly (the tag may move again meanwhile). */
  to_digest: z.string(),
  created: z.string().optional(),
  version: z.string().optional(),
  source: z.string().optional(),
});
export type UpdateImage = z.infer<typeof UpdateImage>;
export const UpdatePlan = z.object({ images: z.array(UpdateImage).min(1) });
export type UpdatePlan = z.infer<typeof UpdatePlan>;

/**
 * The dependents a root's action brings back after it (docs/design/executor.md, chains): each
 * service that depends on the root, dependencies first, with the other services it depends on
 * (a step waits for none of them, but is left for their own action when one is not running).
 */
export const ChainStep = z.object({
  service: z.string(),
  containers: z.array(z.string()),
  /** The services besides the root (and earlier steps) this one depends on. */
  needs: z.array(z.string()).default([]),
});
export type ChainStep = z.infer<typeof ChainStep>;
export const Chain = z.object({ dependents: z.array(ChainStep).min(1) });
export type Chain = z.infer<typeof Chain>;

/** One heal carried out: when, what, how it ended, what the inspector had found (an escalation lists them; state/heal-budgets.json keeps them). */
export const HealSeen = z.object({
  id: z.string(),
  instance: z.string(),
  type: z.string(),
  at: z.string(),
  outcome: z.enum(['completed', 'failed']),
  error: z.string().optional(),
  facts: z.array(z.string()).optional(),
});

/**
 * The restart budget as the action was proposed: heals used of `attempts`; an escalation (budget
 * spent) is never approved by policy and lists each heal (domain/heal-budget.ts).
 */
export const HealBudgetSeen = z.object({
  used: z.number().int(),
  attempts: z.number().int(),
  escalation: z.boolean(),
  heals: z.array(HealSeen).default([]),
});

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
  /** With a leader lease (NATS): the epoch of the leader whose executor claimed it (docs/design/leader.md). */
  epoch: z.number().int().optional(),
  finished_at: z.string().optional(),
  // A facts field of an unexpected shape is dropped, never the action with it (a file written by
  // hand or by another version must stay visible).
  result: ActionResult.optional().catch(undefined),
  error: z.string().optional(),
  /** The containers services.yaml named for the service when the action was proposed. */
  containers: z.array(z.string()).optional(),
  /** Since when the drift holds (world time), when known. */
  drift_since: z.string().nullable().optional(),
  /** A completed restart or redeploy is verified until then. */
  verify_until: z.string().optional(),
  verified: z.boolean().optional(),
  verification: Verification.optional().catch(undefined),
  recovery: Recovery.optional().catch(undefined),
  /** An image_update's images: from which digest to which. */
  update: UpdatePlan.optional().catch(undefined),
  /** An image_update that failed and went back to the old image. */
  rolled_back: z.boolean().optional(),
  /** A root's action: the dependents healed after it, in order. */
  chain: Chain.optional().catch(undefined),
  /** The service's restart budget when it was proposed (restarts and redeploys). */
  budget: HealBudgetSeen.optional().catch(undefined),
  /** Snoozed from its message (cancelled_by_snooze): the silence, until when, by whom; and its end by hand. */
  snooze: z
    .object({ id: z.string(), until: z.string(), recover: z.boolean(), by: z.string(), unsnoozed_by: z.string().optional(), unsnoozed_at: z.string().optional() })
    .optional()
    .catch(undefined),
});
export type Action = z.infer<typeof ActionSchema>;

export const ACTION_VERSION = 1;

export const actionId = {
  containerRestart: (node: string, service: string) => `container-restart-${node}-${service}`,
  redeploy: (node: string, service: string) => `redeploy-${node}-${service}`,
  diskCleanup: (node: string) => `disk-cleanup-${node}`,
  imageUpdate: (node: string, service: string) => `image-update-${node}-${service}`,
};

/** Which action a trigger asks for (docs/design/supervisor.md). */
export function actionForTrigger(trigger: string): { type: ActionType; risk: Risk } {
  if (trigger === 'containers_not_running' || trigger === 'mqtt_unreachable') return { type: 'container_restart', risk: 'low' };
  return { type: 'redeploy', risk: 'guarded' };
}

export function idFor(type: ActionType, node: string, service: string | null | undefined): string {
  if (type === 'disk_cleanup') return actionId.diskCleanup(node);
  if (type === 'container_restart') return actionId.containerRestart(node, service as string);
  if (type === 'image_update') return actionId.imageUpdate(node, service as string);
  return actionId.redeploy(node, service as string);
}

/** `20260527T140212Z` from an ISO time. */
export function instanceFrom(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/**
 * `pending,failed` → those states; `open` stands for pending, approved and running, `all` for
 * every state. Nothing given: the open states (the default of every action list). Throws on an
 * unknown word.
 */
export function statesFrom(text: string | undefined): ActionState[] {
  const out = new Set<ActionState>();
  for (const word of (text ?? 'open').split(',').map((x) => x.trim()).filter(Boolean)) {
    if (word === 'open') OPEN_STATES.forEach((x) => out.add(x));
    else if (word === 'all') ACTION_STATES.forEach((x) => out.add(x));
    else if ((ACTION_STATES as readonly string[]).includes(word)) out.add(word as ActionState);
    else throw new Error(`unknown state ${JSON.stringify(word)}; one of open, all, ${ACTION_STATES.join(', ')}`);
  }
  if (out.size === 0) throw new Error('no state given');
  return ACTION_STATES.filter((x) => out.has(x));
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

export function describeAction(a: Pick<Action, 'type' | 'node' | 'service' | 'chain'>): string {
  const own = describeOwn(a);
  if (!a.chain) return own;
  const names = a.chain.dependents.map((d) => d.service);
  const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  return `${own}, wait until it runs (and is healthy), then bring back ${list} in that order: each restarted when it shares ${a.service}'s network or is down, recreated into ${a.service}'s network when the container it named is gone`;
}

function describeOwn(a: Pick<Action, 'type' | 'node' | 'service'>): string {
  switch (a.type) {
    case 'container_restart':
      return `restart the containers of ${a.service} on ${a.node}`;
    case 'redeploy':
      return `recreate the containers of ${a.service} on ${a.node} from their current configuration`;
    case 'disk_cleanup':
      return `prune stopped containers, dangling images and build cache on ${a.node} (never volumes)`;
    case 'image_update':
      return `pull the newer image of ${a.service} on ${a.node} by its digest and recreate its containers from it; rolled back if they do not come up healthy`;
  }
}

/** Heals an escalation lists one by one; the earlier ones are counted. */
const HEAL_LINES = 5;

/**
 * The restart budget in words, plain text: one line while it lasts; spent, the escalation's
 * headline, what it means, and each heal with what the inspector had found before it.
 */
export function budgetWords(b: Action['budget'], time: (iso: string) => string): string[] {
  if (!b) return [];
  if (!b.escalation) return [`restart budget: ${b.used} of ${b.attempts} heals used`];
  const lines = [
    `Restart budget spent: healed ${b.used} time${b.used === 1 ? '' : 's'} (budget ${b.attempts}) and still unhealthy`,
    'Nothing more is done by policy; Approve tries again (the budget is not reset).',
  ];
  if (b.heals.length > HEAL_LINES) lines.push(`… ${b.heals.length - HEAL_LINES} earlier heal(s)`);
  for (const h of b.heals.slice(-HEAL_LINES)) {
    const what = h.type === 'redeploy' ? 'recreate' : 'restart';
    lines.push(`• ${time(h.at)} ${what}: ${h.outcome}${h.error ? ` (${h.error.slice(0, 120)})` : ''}${h.facts?.length ? `; before it: ${h.facts.join('; ').slice(0, 160)}` : ''}`);
  }
  return lines;
}
