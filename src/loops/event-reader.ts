// Reading the event files of nodes onto the observer's model, one chunk per node at a time: the
// observer's passes (observer.ts) and the workers of a parallel replay (replay-worker.ts) read the
// same way, so a node's events are applied in the same order by both (docs/design/observer.md).
import { lstatSync } from 'node:fs';
import type { ObserveConfig } from '../domain/observe.js';
import type { ServiceState } from '../domain/schemas.js';
import { readLines, type FilePos } from '../store/events.js';
import { applyingSink, type LineCounts, type Model } from './event-sink.js';

/** What the reading says: the observer logs it, a replay worker hands it back to be logged. */
export interface ReadReports {
  /** A malformed line; true when it was said one by one (the rest are summed up per chunk). */
  malformed(file: string, line: number, reason: string): boolean;
  /** A chunk with malformed lines not said one by one. */
  unlogged(file: string, count: number, unlogged: number): void;
  reset(file: string, why: 'replaced' | 'truncated'): void;
  /** `n` lines stamped ahead of the clock, the furthest by `aheadMs` (summed up once a minute). */
  future(node: string, aheadMs: number, n?: number): void;
  /** `n` duplicates (summed up once a minute). */
  duplicate(node: string, n?: number): void;
}

export interface ReadState {
  model: Model;
  /** node → day → position */
  positions: Record<string, Record<string, FilePos>>;
  /** Service objects no published world holds yet (changed in place: observe.ts). */
  fresh: WeakSet<ServiceState>;
}

export type ReadStats = LineCounts & { bytes: number };

/** Reads one chunk from the node's oldest file with unread data. */
export async function readNodeChunk(
  state: ReadState,
  node: string,
  files: readonly { node: string; day: string; path: string }[],
  stats: ReadStats,
  config: ObserveConfig & { observerChunkBytes: number },
  now: number,
  reports: ReadReports,
): Promise<{ more: boolean; moved: boolean }> {
  const positions = (state.positions[node] ??= {});
  for (const file of files) {
    const pos = positions[file.day];
    if (pos) {
      // Synchronous: one cheap lstat(2) per node file and pass (docs/benchmarks.md).
      let st: import('node:fs').Stats | undefined;
      try {
        st = lstatSync(file.path, { throwIfNoEntry: false });
      } catch {
        st = undefined;
      }
      if (!st || !st.isFile() || (st.ino === pos.ino && st.size === pos.offset)) continue;
    }
    let malformedHere = 0;
    let unloggedHere = 0;
    const sink = applyingSink(state.model, file, config, now, stats, {
      malformed: (line, reason, aheadMs) => {
        // Stamped ahead of the clock: summed up once a minute, not line by line — after a step
        // of this machine's clock back, every node's events are (observer-reports.ts).
        if (aheadMs !== undefined) return reports.future(node, aheadMs);
        malformedHere++;
        if (!reports.malformed(file.path, line, reason)) unloggedHere++;
      },
      duplicate: () => reports.duplicate(node),
    }, state.fresh);
    const out = await readLines(file.path, pos, config.observerChunkBytes, sink);
    if (!out) continue;
    // One line per chunk read, so a flood of bad lines cannot flood the log.
    if (unloggedHere > 0) reports.unlogged(file.path, malformedHere, unloggedHere);
    if (out.reset) reports.reset(file.path, out.reset);
    const moved = !pos || out.bytes > 0 || out.reset !== undefined || pos.offset !== out.pos.offset || pos.skip !== out.pos.skip || pos.head !== out.pos.head;
    positions[file.day] = out.pos;
    stats.bytes += out.bytes;
    if (!out.caughtUp) return { more: true, moved };
    if (moved) return { more: true, moved };
  }
  return { more: false, moved: false };
}
