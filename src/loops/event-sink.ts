// Event lines onto the observer's model: the one way lines are judged and applied, by the observer
// as it reads and by retention as it folds removed days into the snapshot (loops/retention.ts).
import { applyEvent, type ObserveConfig, type ObserverModel } from '../domain/observe.js';
import { parseEventLine } from '../domain/event-line.js';
import type { ServiceState } from '../domain/schemas.js';
import type { FilePos, LineSink } from '../store/events.js';

export type Model = ObserverModel & { malformed_by_node: Record<string, number> };

export interface LineCounts {
  lines: number;
  applied: number;
  malformed: number;
}

/**
 * A sink applying the lines of `node`'s file for `day` to `model`: each line is parsed
 * (domain/event-line.ts) and applied, or counted as malformed or duplicate and told to `on`.
 */
export function applyingSink(
  model: Model,
  file: { node: string; day: string },
  config: ObserveConfig,
  now: number,
  counts: LineCounts,
  on: { malformed?: (lineNo: number, reason: string, aheadMs?: number) => void; duplicate?: () => void },
  fresh?: WeakSet<ServiceState>,
): LineSink {
  const { node, day } = file;
  const malformed = (lineNo: number, reason: string, aheadMs?: number) => {
    model.counters.malformed++;
    model.malformed_by_node[node] = (model.malformed_by_node[node] ?? 0) + 1;
    counts.malformed++;
    on.malformed?.(lineNo, reason, aheadMs);
  };
  return {
    line: (buf, lineNo) => {
      counts.lines++;
      const r = parseEventLine(buf, node, day, config, now);
      if (!r.ok) return malformed(lineNo, r.reason, r.aheadMs);
      if (applyEvent(model, r.event, node, fresh)) counts.applied++;
      else on.duplicate?.();
    },
    oversized: (lineNo) => {
      counts.lines++;
      model.counters.oversized++;
      malformed(lineNo, 'line longer than 64 KiB');
    },
  };
}

/** Forgets the positions of files that are gone (in place). Returns true when any was forgotten. */
export function forgetGonePositions(positions: Record<string, Record<string, FilePos>>, files: ReadonlyMap<string, readonly { day: string }[]>): boolean {
  let changed = false;
  for (const [node, days] of Object.entries(positions)) {
    const present = new Set((files.get(node) ?? []).map((f) => f.day));
    for (const day of Object.keys(days)) {
      if (!present.has(day)) {
        delete days[day];
        changed = true;
      }
    }
    if (Object.keys(days).length === 0) delete positions[node];
  }
  return changed;
}
