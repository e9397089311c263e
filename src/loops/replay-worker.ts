// A worker of a parallel replay (parallel-replay.ts): reads the event files of its nodes onto its
// part of the model, exactly as the observer's pass does (event-reader.ts, one chunk per node per
// round), and hands back the model, the positions, the counts and what there was to say.
import { parentPort, workerData } from 'node:worker_threads';
import type { ServiceState } from '../domain/schemas.js';
import type { ReadReports, ReadStats } from './event-reader.js';
import { readShare, type ReplayTask, type ReplayResult } from './parallel-replay.js';

/** Malformed lines said one by one per file (as the observer does: the rest are counted). */
const MALFORMED_SAID_PER_FILE = 10;

async function run(task: ReplayTask): Promise<ReplayResult> {
  const state = { model: task.model, positions: task.positions, fresh: new WeakSet<ServiceState>() };
  const said: ReplayResult['said'] = { malformed: [], unlogged: [], resets: [], future: {}, duplicates: {} };
  const perFile = new Map<string, number>();
  const reports: ReadReports = {
    malformed: (file, line, reason) => {
      const n = perFile.get(file) ?? 0;
      if (n >= MALFORMED_SAID_PER_FILE - (task.saidBefore[file] ?? 0)) return false;
      perFile.set(file, n + 1);
      said.malformed.push({ file, line, reason });
      return true;
    },
    unlogged: (file, count, unlogged) => void said.unlogged.push({ file, count, unlogged }),
    reset: (file, why) => void said.resets.push({ file, why }),
    future: (node, aheadMs) => {
      const f = (said.future[node] ??= { count: 0, maxAheadMs: 0 });
      f.count++;
      f.maxAheadMs = Math.max(f.maxAheadMs, aheadMs);
    },
    duplicate: (node) => void (said.duplicates[node] = (said.duplicates[node] ?? 0) + 1),
  };
  const stats: ReadStats = { bytes: 0, lines: 0, applied: 0, malformed: 0 };
  await readShare(task.nodes, task.files, state, stats, task.config, task.now, reports);
  return { model: state.model, positions: state.positions, stats, said };
}

run(workerData as ReplayTask).then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (err: unknown) => parentPort!.postMessage({ ok: false, error: err instanceof Error ? `${err.message}` : String(err) }),
);
