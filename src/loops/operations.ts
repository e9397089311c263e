// What each action type does on a node's engine (docs/design/executor.md): the scope an action may
// touch (only what services.yaml names, as it is now), the Docker operation of its type, and what
// a completed action records. The executor (executor.ts) claims, times and finishes them.
import type { Action, ActionResult } from '../domain/actions.js';
import type { DesiredState, World } from '../domain/schemas.js';
import { diskCleanup, recreateContainer, restartContainers, type OpContext } from '../docker/ops.js';
import type { Credentials } from '../docker/registry.js';
import { updateImages } from '../docker/update.js';
import { RefusedError } from '../errors.js';
import { healChain, type ChainOutcome } from './chain.js';

/** What an operation did, and — an image update, which verifies before it ends — its verification. */
export interface OpOutcome {
  result: ActionResult;
  verification?: { verified: true; after_s: number; note: string };
}

export function completedWith(outcome: OpOutcome, finishedAt: number): Partial<Action> {
  if (!outcome.verification) return { result: outcome.result };
  return { result: outcome.result, verified: true, verification: { ...outcome.verification, at: new Date(finishedAt).toISOString() } };
}

/**
 * Scope: only what services.yaml names, as it is now (a hand-edited action file names nothing).
 * The node and the service's containers, or why the action is refused.
 */
export function scopeOf(a: Action, desired: DesiredState): { node: DesiredState[string]; containers: string[] } | string {
  const node = desired[a.node];
  if (!node) return `refused: node ${a.node} is not in hosts/ any more; the executor only touches what services.yaml names`;
  if (a.type === 'disk_cleanup') return { node, containers: [] };
  const svc = a.service ? node.services[a.service] : undefined;
  if (!svc) return `refused: service ${a.service ?? '(none)'} is not in hosts/${a.node}/services.yaml; the executor only touches containers named there`;
  return { node, containers: svc.containers };
}

export interface OperationContext extends OpContext {
  /** The service's containers (scopeOf). */
  containers: string[];
  /** Only containers with this label are pruned by a disk cleanup (services.yaml's docker.prune_label). */
  pruneLabel?: string;
  /** How long an image update watches its new containers before it ends. */
  verifyAfterS: number;
  /** What the agents report now (an image update's verification reads it). */
  world: () => World;
  /** Registry credentials for an image update's pull, by registry domain (DOCKER_CONFIG). */
  credentials?: (domain: string) => Credentials | undefined;
  /** The containers services.yaml names for a service of the action's node (a chain's steps). */
  containersOf: (service: string) => readonly string[];
}

/** Carries out the Docker operation of `a`'s type. */
export async function runOperation(a: Action, ctx: OperationContext): Promise<OpOutcome> {
  const { containers } = ctx;
  switch (a.type) {
    case 'container_restart': {
      const out = await restartContainers(ctx, containers);
      return { result: { containers: out, ...(await chainOf(a, ctx, out.map((c) => c.id))) } };
    }
    case 'redeploy': {
      const out = [];
      for (const name of containers) out.push(await recreateContainer(ctx, name));
      return { result: { containers: out, ...(await chainOf(a, ctx, out.map((c) => c.old_id))) } };
    }
    case 'disk_cleanup':
      return { result: await diskCleanup(ctx, ctx.pruneLabel) };
    case 'image_update': {
      if (!a.update) throw new RefusedError('refused: the action names no images to update (written by hand?); nothing was changed');
      const key = `${a.node}/${a.service}`;
      const { verification, ...result } = await updateImages(
        {
          ...ctx,
          verifyMs: ctx.verifyAfterS * 1000,
          reported: (since) => {
            const w = ctx.world().services[key];
            if (w?.status === 'healthy' && Date.parse(w.last_event_at) >= since) return { status: 'healthy', reason: null };
            if (w?.status === 'unhealthy' && Date.parse(w.since) >= since) return { status: 'unhealthy', reason: w.reason };
            return undefined;
          },
        },
        a.update.images,
      );
      return { result, verification };
    }
  }
}

/** A root's dependents, healed after it (chain.ts); nothing for an action without a chain. */
async function chainOf(a: Action, ctx: OperationContext, oldIds: string[]): Promise<{ chain?: ChainOutcome[] }> {
  if (!a.chain) return {};
  return { chain: await healChain(a, ctx, { rootContainers: ctx.containers, oldIds, containersOf: ctx.containersOf }) };
}
