// After a restart, redeploy or image update completes, the service must report healthy again
// (after the action started) within VERIFY_AFTER_S: `verified: true` with how long it took, or
// `verified: false` saying it is still unhealthy — checked against world state, never inferred.
import type { Action } from '../domain/actions.js';
import type { World } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import type { ActionBackend } from '../store/action-backend.js';

/** A completed action whose verification is open. */
export interface Watched {
  action: Action;
  startedAt: number;
  finishedAt: number;
  until: number;
}

export interface VerificationDeps {
  actions: ActionBackend;
  world: () => World;
  log: Logger;
  now: () => number;
  verifyAfterS: number;
  onChange?: (a: Action) => void;
}

export class Verifications {
  private readonly watching = new Map<string, Watched>();

  constructor(private readonly deps: VerificationDeps) {}

  watch(w: Watched): void {
    this.watching.set(`${w.action.id}@${w.action.instance}`, w);
  }

  /** At start: completed actions still inside their verification window are watched again. */
  async resume(): Promise<void> {
    for (const a of await this.deps.actions.list('completed')) {
      if (a.verified !== undefined || typeof a.verify_until !== 'string') continue;
      this.watch({ action: a, startedAt: Date.parse(a.started_at ?? a.updated_at), finishedAt: Date.parse(a.finished_at ?? a.updated_at), until: Date.parse(a.verify_until) });
    }
  }

  /** Records, for each watched action, a healthy report since it started, or the window's end. */
  async check(): Promise<void> {
    if (this.watching.size === 0) return;
    const { actions, log, now } = this.deps;
    const world = this.deps.world();
    for (const [key, v] of this.watching) {
      const healthyAt = verifiedAt(v, world);
      let patch: Record<string, unknown> | undefined;
      if (healthyAt !== undefined) {
        const afterS = Math.max(0, Math.round((healthyAt - v.finishedAt) / 100) / 10);
        patch = { verified: true, verification: { verified: true, after_s: afterS, at: new Date(now()).toISOString() } };
      } else if (now() >= v.until) {
        patch = {
          verified: false,
          verification: {
            verified: false,
            at: new Date(now()).toISOString(),
            note: `restarted but still unhealthy: no healthy report within ${this.deps.verifyAfterS} s${stillUnhealthy(v, world)}`,
          },
        };
      }
      if (!patch) continue;
      this.watching.delete(key);
      const updated = await actions.annotate('completed', v.action, patch);
      if (updated) {
        log.info({ id: v.action.id, verified: patch.verified }, `${v.action.id} ${patch.verified ? 'verified healthy' : 'restarted but still unhealthy'}`);
        this.deps.onChange?.(updated);
      }
    }
  }
}

/**
 * The services an action's verification covers: its own, and a chain's dependents (those it
 * restarted or recreated must report healthy after it started, as the root; those it left as
 * they were must still be healthy).
 */
function covered(a: Action): { service: string; acted: boolean }[] {
  const chain = a.result && 'chain' in a.result && Array.isArray(a.result.chain) ? (a.result.chain as { service?: unknown; outcome?: unknown }[]) : [];
  return [{ service: a.service ?? '', acted: true }, ...chain.filter((c) => typeof c.service === 'string').map((c) => ({ service: c.service as string, acted: c.outcome !== 'left' }))];
}

/** When every covered service had reported healthy (the latest of them), or undefined while one has not. */
function verifiedAt(v: Watched, world: World): number | undefined {
  let latest = -Infinity;
  for (const c of covered(v.action)) {
    const w = world.services[`${v.action.node}/${c.service}`];
    if (!w || w.status !== 'healthy') return undefined;
    const at = Date.parse(w.last_event_at);
    if (c.acted && !(at >= v.startedAt)) return undefined;
    latest = Math.max(latest, c.acted ? at : v.startedAt);
  }
  return latest;
}

/** What is still unhealthy, for the note: ` (now unhealthy: …)` for the service, and the dependents that are. */
function stillUnhealthy(v: Watched, world: World): string {
  const parts: string[] = [];
  for (const c of covered(v.action)) {
    const w = world.services[`${v.action.node}/${c.service}`];
    if (c.service === v.action.service) {
      if (w) parts.push(`now ${w.status}${w.reason ? `: ${w.reason}` : ''}`);
    } else if (!w || w.status !== 'healthy') parts.push(`${c.service} ${w ? w.status : 'not reported'}`);
  }
  return parts.length ? ` (${parts.join('; ')})` : '';
}
