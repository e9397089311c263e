// After a restart, redeploy or image update completes, the service must report healthy again
// (after the action started) within VERIFY_AFTER_S: `verified: true` with how long it took, or
// `verified: false` saying it is still unhealthy — checked against world state, never inferred.
import type { Action } from '../domain/actions.js';
import type { World } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import type { ActionStore } from '../store/actions.js';

/** A completed action whose verification is open. */
export interface Watched {
  action: Action;
  startedAt: number;
  finishedAt: number;
  until: number;
}

export interface VerificationDeps {
  actions: ActionStore;
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
      const w = world.services[`${v.action.node}/${v.action.service}`];
      const healthyAt = w && w.status === 'healthy' ? Date.parse(w.last_event_at) : NaN;
      let patch: Record<string, unknown> | undefined;
      if (Number.isFinite(healthyAt) && healthyAt >= v.startedAt) {
        const afterS = Math.max(0, Math.round((healthyAt - v.finishedAt) / 100) / 10);
        patch = { verified: true, verification: { verified: true, after_s: afterS, at: new Date(now()).toISOString() } };
      } else if (now() >= v.until) {
        patch = {
          verified: false,
          verification: {
            verified: false,
            at: new Date(now()).toISOString(),
            note: `restarted but still unhealthy: no healthy report within ${this.deps.verifyAfterS} s${w ? ` (now ${w.status}${w.reason ? `: ${w.reason}` : ''})` : ''}`,
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
