// Which node files an observer pass reads (docs/design/observer.md, "Reading what changed"): while
// the events directory is watched, the watcher names each file written, and a pass reads only
// those, from the file list of the last full listing; a full listing (every node file lstat'ed
// against its position) runs at the first pass, after a replay or a retention removal, when the
// watcher saw a new day or failed, and at least every `sweepEveryMs` in any case.
import { eventFileOf, listEventFiles, type EventFile } from '../store/events.js';

export interface PassFiles {
  /** Every node's files as last listed (with the days hinted since). */
  files: Map<string, EventFile[]>;
  /** The nodes this pass reads, sorted. */
  nodes: string[];
  /** Whether this pass listed the directory whole. */
  swept: boolean;
}

export class EventHints {
  private watching = false;
  private sweepWanted = true;
  private sweptAt = Number.NEGATIVE_INFINITY;
  private files = new Map<string, EventFile[]>();
  /** day → names written since the last pass took them. */
  private pending = new Map<string, Set<string>>();
  readonly stats = { sweeps: 0, hinted: 0 };

  constructor(
    private readonly eventsDir: string,
    private readonly sweepEveryMs: number,
  ) {}

  /** The watcher is up: from now on passes read what it names (after one more full listing). */
  watch(): void {
    this.watching = true;
    this.sweepWanted = true;
  }

  /** The watcher stopped or failed: every pass lists the directory whole. */
  unwatch(): void {
    this.watching = false;
  }

  /** A file of `day` was written (or created, renamed, removed). */
  hint(day: string, name: string): void {
    const set = this.pending.get(day);
    if (set) set.add(name);
    else this.pending.set(day, new Set([name]));
  }

  /** The next pass lists the directory whole (a new day, a replay, files removed). */
  sweep(): void {
    this.sweepWanted = true;
  }

  async next(now: number): Promise<PassFiles> {
    const hinted = this.pending;
    this.pending = new Map();
    if (!this.watching || this.sweepWanted || Math.abs(now - this.sweptAt) >= this.sweepEveryMs) {
      this.sweepWanted = false;
      this.sweptAt = now;
      this.stats.sweeps++;
      this.files = await listEventFiles(this.eventsDir);
      return { files: this.files, nodes: [...this.files.keys()].sort(), swept: true };
    }
    const nodes = new Set<string>();
    for (const [day, names] of hinted) {
      for (const name of names) {
        const file = eventFileOf(this.eventsDir, day, name);
        if (!file) continue;
        nodes.add(file.node);
        const list = this.files.get(file.node) ?? [];
        if (!list.some((f) => f.day === day)) this.files.set(file.node, [...list, file].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)));
      }
    }
    this.stats.hinted += nodes.size;
    return { files: this.files, nodes: [...nodes].sort(), swept: false };
  }
}
