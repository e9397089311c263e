// Event retention (docs/design/files.md "Retention"): event days older than EVENTS_RETENTION_DAYS
// are folded into the events snapshot — replayed onto the previous snapshot, never taken from the
// live model — and removed once the checkpoint has applied them. A replay (or a lost checkpoint)
// then starts from the snapshot and reads the days kept, and reaches the world it had before.
import { lstat } from 'node:fs/promises';
import { AGENT_FORGET_MS, emptyModel, forgetSilentAgents, type ObserveConfig } from '../domain/observe.js';
import type { Logger } from '../log.js';
import { listEventFiles, readLines, removeEmptyDay, removeEventFile, type EventFile, type FilePos } from '../store/events.js';
import { eventsSnapshotState, SNAPSHOT_VERSION, writeEventsSnapshot } from '../store/events-snapshot.js';
import type { Layout } from '../store/paths.js';
import { applyingSink, forgetGonePositions, type LineCounts, type Model } from './event-sink.js';

/** What the observer offers retention: what its checkpoint holds, and a moment between passes. */
export interface ObserverView {
  readonly configFingerprint: string;
  persisted(): Readonly<Record<string, Readonly<Record<string, Readonly<FilePos>>>>>;
  readPositions(): Readonly<Record<string, Readonly<Record<string, Readonly<FilePos>>>>>;
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

export interface EventRetentionDeps {
  layout: Layout;
  days: number;
  config: ObserveConfig;
  observer: ObserverView;
  log: Logger;
  now: () => number;
}

export interface EventRetentionReport {
  /** Files read into the snapshot in this pass, the lines applied, the files and days removed. */
  folded: number;
  applied: number;
  removed: number;
  daysRemoved: string[];
  /** Old files the checkpoint has not applied yet (kept, tried again at the next pass). */
  waiting: number;
}

/** How much of a file the fold reads at a time (more than the longest line, 64 KiB). */
const FOLD_CHUNK_BYTES = 1024 * 1024;

/** The first day kept: days before it are removed (EVENTS_RETENTION_DAYS whole days before today, UTC). */
export function firstDayKept(now: number, days: number): string {
  return new Date(now - days * 86_400_000).toISOString().slice(0, 10);
}

/** Two heads (hex of a file's first bytes, as much as was read) of the same file. */
function sameStart(a: string, b: string): boolean {
  const n = Math.min(a.length, b.length);
  return a.slice(0, n) === b.slice(0, n);
}

export class EventRetention {
  constructor(private readonly deps: EventRetentionDeps) {}

  private stopping = false;
  /** The problem with the snapshot last said (said once while it lasts). */
  private snapshotProblem: string | undefined;

  /** A pass under way stops between two files and writes nothing (what it folded is folded again later). */
  stop(): void {
    this.stopping = true;
  }

  async pass(): Promise<EventRetentionReport> {
    const { layout, log } = this.deps;
    const report: EventRetentionReport = { folded: 0, applied: 0, removed: 0, daysRemoved: [], waiting: 0 };
    if (this.deps.days <= 0) return report;
    const keepFrom = firstDayKept(this.deps.now(), this.deps.days);
    const files = await listEventFiles(layout.events);
    // Day by day, each day's nodes in order: the order a replay reads them in when each file is one
    // chunk (two files of one node — an alias during a rename — take turns, day by day).
    const old = [...files.values()].flat().filter((f) => f.day < keepFrom).sort((a, b) => (a.day !== b.day ? (a.day < b.day ? -1 : 1) : a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    if (old.length === 0) return report;
    const done = await this.fold(files, old, report);
    if (done.length === 0) return report;
    await this.remove(done, report);
    if (report.removed > 0) {
      log.info({ ...report, keep_from: keepFrom }, `event retention: ${report.removed} file(s) of ${report.daysRemoved.length} day(s) before ${keepFrom} folded into the snapshot and removed`);
    }
    return report;
  }

  /**
   * Replays onto the previous snapshot what the checkpoint has applied of the old files, and
   * writes the new snapshot. Returns the files read whole (to be removed).
   */
  private async fold(files: Map<string, EventFile[]>, old: EventFile[], report: EventRetentionReport): Promise<{ file: EventFile; ino: number; size: number }[]> {
    const { layout, log, observer } = this.deps;
    const state = await eventsSnapshotState(layout.eventsSnapshot);
    if (state.problem) {
      // Never written over: it holds the days removed before. Nothing is removed until it is fixed
      // or moved aside (then a new snapshot starts from the days still here).
      report.waiting += old.length;
      if (this.snapshotProblem !== state.problem) log.error({ file: layout.eventsSnapshot, problem: state.problem }, `event retention paused: the events snapshot is ${state.problem}; move it aside to start a new one (a replay then knows only the days kept)`);
      this.snapshotProblem = state.problem;
      return [];
    }
    this.snapshotProblem = undefined;
    const prev = state.snap;
    const model: Model = prev ? (prev.model as Model) : { ...emptyModel(), malformed_by_node: {} };
    const positions = prev ? prev.positions : {};
    let changed = forgetGonePositions(positions, files);
    const applied = observer.persisted();
    const whole: { file: EventFile; ino: number; size: number }[] = [];
    const counts: LineCounts = { lines: 0, applied: 0, malformed: 0 };
    let from = prev?.from ?? null;
    let through = prev?.through ?? null;
    for (const file of old) {
      if (this.stopping) return [];
      const upTo = applied[file.node]?.[file.day];
      const st = await lstat(file.path).catch(() => undefined);
      if (!upTo || !st || st.ino !== upTo.ino || upTo.skip || st.size < upTo.offset) {
        report.waiting++;
        continue;
      }
      // Read on from where the snapshot stopped in this very file (same inode, same first bytes);
      // a file new since (a late event for a removed day) is read from its start.
      let pos: FilePos | undefined = positions[file.node]?.[file.day];
      if (pos && (pos.ino !== upTo.ino || !sameStart(pos.head, upTo.head))) pos = undefined;
      // The snapshot ahead of the checkpoint (a checkpoint restored from a backup): nothing of it
      // is read twice; the file waits until the observer has read as far again.
      if (pos && pos.offset > upTo.offset) {
        report.waiting++;
        continue;
      }
      const sink = applyingSink(model, file, this.deps.config, this.deps.now(), counts, {});
      // The checkpoint's offset is a line's start: each read ends on a newline at or before it. A
      // megabyte at a time (never less than a line's 64 KiB), so the loops sharing this thread go on.
      while ((pos?.offset ?? 0) < upTo.offset) {
        const out = await readLines(file.path, pos, Math.min(upTo.offset - (pos?.offset ?? 0), FOLD_CHUNK_BYTES), sink);
        if (!out || out.bytes === 0) break;
        pos = out.pos;
        changed = true;
      }
      if (!pos) {
        // An empty file: nothing to fold, nothing lost by removing it.
        if (st.size === 0 && upTo.offset === 0) whole.push({ file, ino: st.ino, size: 0 });
        continue;
      }
      (positions[file.node] ??= {})[file.day] = pos;
      report.folded++;
      if (from === null || file.day < from) from = file.day;
      if (through === null || file.day > through) through = file.day;
      if (pos.offset === upTo.offset && upTo.offset === st.size) whole.push({ file, ino: st.ino, size: st.size });
      else report.waiting++;
    }
    if (!changed || this.stopping) return this.stopping ? [] : whole;
    // Agents silent for a day before the days kept are forgotten, as the live observer does.
    forgetSilentAgents(model, new Date(Date.parse(`${firstDayKept(this.deps.now(), this.deps.days)}T00:00:00.000Z`) - AGENT_FORGET_MS).toISOString());
    report.applied = counts.applied;
    await writeEventsSnapshot(layout.eventsSnapshot, {
      version: SNAPSHOT_VERSION,
      fingerprint: observer.configFingerprint,
      from,
      through,
      made_at: new Date(this.deps.now()).toISOString(),
      positions,
      model,
    });
    return whole;
  }

  /**
   * Removes the files the snapshot holds whole — between two observer passes, and only where the
   * observer (in memory and in its checkpoint) has read as far: a replay under way keeps them.
   */
  private async remove(files: { file: EventFile; ino: number; size: number }[], report: EventRetentionReport): Promise<void> {
    const { observer, layout, log } = this.deps;
    const days = new Set<string>();
    await observer.exclusive(async () => {
      for (const { file, ino, size } of files) {
        const read = observer.readPositions()[file.node]?.[file.day];
        const persisted = observer.persisted()[file.node]?.[file.day];
        if (!read || !persisted || read.ino !== ino || persisted.ino !== ino || read.offset < size || persisted.offset < size) {
          report.waiting++;
          continue;
        }
        const r = await removeEventFile(file.path, { ino, size });
        if (r === 'removed') report.removed++;
        else if (r === 'changed') {
          report.waiting++;
          log.info({ file: file.path }, 'an old event file grew while retention removed it; it is kept and read on');
        }
        days.add(file.day);
      }
    });
    for (const day of [...days].sort()) if (await removeEmptyDay(layout.events, day)) report.daysRemoved.push(day);
  }
}
