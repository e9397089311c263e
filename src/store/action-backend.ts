// What every part of the control plane asks of the actions (docs/design/claims.md): the file
// store (actions.ts) and the JetStream KV store (nats/actions-kv.ts) both answer it, with the same
// exactly-once property — of several concurrent transitions out of one state, one wins.
import { ACTION_VERSION, type Action, type ActionState, type ActionType } from '../domain/actions.js';
import type { ActionDraft } from '../domain/plan.js';

export class TransitionError extends Error {
  constructor(
    message: string,
    readonly code: 'not_found' | 'wrong_state' | 'illegal' | 'stale_instance' | 'conflict',
    readonly current?: Action,
  ) {
    super(message);
    this.name = 'TransitionError';
  }
}

export interface TransitionRequest {
  id: string;
  from: ActionState;
  to: ActionState;
  by: string;
  /** Only this instance may move (a button of an older instance changes nothing). */
  instance?: string;
  patch?: Partial<Action>;
  note?: string;
}

export interface ActionQuery {
  /** Default: the open states. */
  states?: readonly ActionState[];
  id?: string;
  node?: string;
  service?: string;
  /** Only actions updated after this time (ISO). */
  since?: string;
  /** Default 100; Infinity for all. */
  limit?: number;
  /** newest (default): by updated_at, newest first; oldest: by created_at, oldest first. */
  order?: 'newest' | 'oldest';
}

export const DEFAULT_QUERY_LIMIT = 100;

export interface ActionBackend {
  /** A new pending action; undefined when its id is open (or moving) already. */
  create(draft: ActionDraft, by?: string): Promise<Action | undefined>;
  /** Moves one action; exactly one of several concurrent callers wins, the others get a TransitionError. */
  transition(req: TransitionRequest): Promise<Action>;
  /** Adds facts to a finished action; its state and history stay. Undefined when it is gone. */
  annotate(state: ActionState, a: Action, patch: Record<string, unknown>): Promise<Action | undefined>;
  /** One instance, wherever it is now. */
  find(id: string, instance: string): Promise<Action | undefined>;
  /** The open instance of `id`, or the newest finished one. */
  get(id: string): Promise<Action | undefined>;
  /** Every instance of `id`, oldest first. */
  history(id: string): Promise<Action[]>;
  query(q?: ActionQuery): Promise<{ actions: Action[]; total: number }>;
  /** All actions of one state, oldest first. */
  list(state: ActionState): Promise<Action[]>;
  listOpen(): Promise<Action[]>;
  /** Open actions and those in the middle of a transition, in the state they move to. */
  listOpenOrMoving(): Promise<Action[]>;
  finishedSince(sinceIso: string, limit?: number): Promise<Action[]>;
  /** Finished actions that ended before `beforeMs` (retention). */
  finishedBefore(beforeMs: number): Promise<Action[]>;
  /** Names (`<id>@<instance>.json`) of the finished actions, per state; `read` reads one. */
  finishedNames(states: readonly ActionState[]): Promise<{ state: ActionState; name: string }[]>;
  read(state: ActionState, name: string): Promise<Action | undefined>;
  counts(): Promise<Record<ActionState, number>>;
  countsByType(): Promise<{ state: ActionState; type: ActionType; n: number }[]>;
  removeFinished(a: Action): Promise<void>;
  /** A mark that stays the same while no change was heard of; undefined when changes cannot be heard. */
  changeMark(): number | undefined;
  /** Records changes made outside the store's own protocol (a file moved by hand); lines for the log. */
  adoptMoved(states?: readonly ActionState[]): Promise<string[]>;
  onAdopted(fn: (a: Action) => void): void;
  /** Finishes what a crash interrupted; lines for the log. */
  recover(): Promise<string[]>;
}

/** A draft's pending action, as either store writes it. */
export function newAction(draft: ActionDraft, instance: string, at: string, by: string): Action {
  return {
    version: ACTION_VERSION,
    id: draft.id,
    instance,
    type: draft.type,
    risk: draft.risk,
    node: draft.node,
    service: draft.service,
    drift: draft.drift,
    trigger: draft.trigger,
    state: 'pending',
    created_at: at,
    updated_at: at,
    containers: draft.containers,
    drift_since: draft.drift_since,
    ...(draft.update ? { update: draft.update } : {}),
    ...(draft.chain ? { chain: draft.chain } : {}),
    ...(draft.budget ? { budget: draft.budget } : {}),
    history: [{ state: 'pending', at, by }],
  };
}
