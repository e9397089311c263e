// What the daily digest says: a pure function of the world, the desired state, the actions that
// finished since the last digest, the pending ones, and the time (the bot renders it).
import type { Action } from './actions.js';
import { describeUpdates, outdatedImages, type Skips, type Updates } from './updates.js';
import type { DesiredState, World, WorldService } from './schemas.js';

export interface DigestInput {
  /** The last digest's time (ISO), or null for the first one: then the last 24 h. */
  since: string | null;
  now: number;
  world: World;
  desired: DesiredState;
  /** Actions that reached a final state since `since`. */
  finished: readonly Action[];
  pending: readonly Action[];
  /** What the update checks found, and the digests skipped. */
  updates?: Updates;
  skips?: Skips;
  /** Bytes per kind of data under HOMELAB_ROOT (retention's last measure). */
  data?: Readonly<Record<string, number>>;
}

export interface Digest {
  since: string;
  opened: WorldService[];
  resolved: WorldService[];
  counts: { completed: number; failed: number; rejected: number; cancelled: number };
  /** What stayed quiet: drifts that recovered by themselves, and snoozes (each an edit, no new message). */
  quiet: { recovered_by_themselves: number; snoozed: number };
  failed: Action[];
  still_unhealthy: WorldService[];
  /** Nodes services.yaml names whose agent is silent. */
  silent_agents: string[];
  pending: Action[];
  /** Services whose `updates:` is on and whose image is behind its tag: `node/service` and what. */
  updates_waiting: { key: string; images: string }[];
  data?: Readonly<Record<string, number>>;
}

/** Since when a digest looks: the last digest's time, or 24 h back for the first one. */
export function digestSince(last: string | null, now: number): string {
  return last ?? new Date(now - 86_400_000).toISOString();
}

export function digestOf(input: DigestInput): Digest {
  const since = digestSince(input.since, input.now);
  const services = Object.values(input.world.services);
  const count = (s: Action['state']) => input.finished.filter((a) => a.state === s).length;
  return {
    since,
    opened: services.filter((s) => s.status === 'unhealthy' && s.since > since),
    resolved: services.filter((s) => s.last_incident !== undefined && s.last_incident !== null && s.last_incident.resolved_at > since),
    counts: { completed: count('completed'), failed: count('failed'), rejected: count('rejected'), cancelled: count('cancelled') },
    quiet: {
      recovered_by_themselves: input.finished.filter((a) => a.state === 'cancelled' && a.cancel_reason === 'drift_resolved_auto').length,
      snoozed: input.finished.filter((a) => a.state === 'cancelled' && a.cancel_reason === 'cancelled_by_snooze').length,
    },
    failed: input.finished.filter((a) => a.state === 'failed'),
    still_unhealthy: services.filter((s) => s.status === 'unhealthy'),
    silent_agents: Object.values(input.world.nodes).filter((n) => n.agent === 'silent' && input.desired[n.node]).map((n) => n.node),
    pending: [...input.pending],
    updates_waiting: Object.entries(input.updates ?? {})
      .filter(([, e]) => {
        const s = input.desired[e.node]?.services[e.service];
        return s !== undefined && s.monitor && s.updates !== 'off';
      })
      .map(([key, e]) => ({ key, images: describeUpdates(outdatedImages(e.images, input.skips?.[key])) }))
      .filter((u) => u.images !== '')
      .sort((x, y) => (x.key < y.key ? -1 : 1)),
    ...(input.data ? { data: input.data } : {}),
  };
}
