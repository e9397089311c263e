// state/events_snapshot.json: what the event days removed by retention produced (docs/design/files.md
// "Retention"). A replay (or a lost checkpoint) starts from it and reads the days still kept. It
// holds the observer's model after those days and, per file it read, where reading stopped — so a
// file still present (a stop between writing the snapshot and removing the day) is read on from
// there, and a late file for a removed day is read from its start.
import { z } from 'zod';
import type { Logger } from '../log.js';
import { readChecked, writeFileAtomic } from './atomic.js';
import { ModelSchema, PositionsSchema } from './checkpoint.js';

export const SNAPSHOT_VERSION = 1;

const SnapshotSchema = z.object({
  version: z.literal(SNAPSHOT_VERSION),
  /** The observer's fingerprint (NODE_ALIAS_MAP) the days were read with. */
  fingerprint: z.string(),
  /** The oldest and the newest event day it holds. */
  from: z.string().nullable(),
  through: z.string().nullable(),
  made_at: z.string(),
  positions: PositionsSchema,
  model: ModelSchema,
});
export type EventsSnapshot = z.infer<typeof SnapshotSchema>;

/**
 * The snapshot, or undefined when there is none. One that cannot be read is said loudly: a
 * replay then starts empty and the removed days are missing from it (the live world keeps them).
 */
export async function readEventsSnapshot(file: string, log: Logger): Promise<EventsSnapshot | undefined> {
  const r = await eventsSnapshotState(file);
  if (r.problem) log.error({ file, problem: r.problem }, `the events snapshot is ${r.problem}: a replay starts without the event days retention removed`);
  return r.snap;
}

/** The snapshot (none: neither), or what is wrong with the file that is there. */
export async function eventsSnapshotState(file: string): Promise<{ snap?: EventsSnapshot; problem?: string }> {
  const r = await readChecked(file, SnapshotSchema);
  if (r.ok) return { snap: r.value };
  if (r.why === 'none') return {};
  return { problem: r.why === 'unreadable' ? `unreadable (${(r.err as Error).message ?? r.err})` : `invalid (${r.problem ?? 'schema'})` };
}

export function writeEventsSnapshot(file: string, snap: EventsSnapshot): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(snap satisfies EventsSnapshot));
}
