// events/ and each of its day directories watched through inotify (fs.watch), one watch per
// directory: each write names its file, and the observer reads only the files named
// (loops/event-hints.ts). chokidar read a day's directory whole (readdir and an lstat per file) at
// every append to any of its files: with a thousand nodes, a thousand lstat(2) per event. A file
// created, renamed or removed, a day added or removed, or a watch that fails makes the next
// observer pass list everything again (docs/design/observer.md, "Reading what changed").
import { promises as fs, watch as fsWatch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import { DAY_RE } from '../store/events.js';

/** What the observer takes from this watcher (EventHints). */
export interface EventHintsSink {
  watch(): void;
  unwatch(): void;
  hint(day: string, name: string): void;
  sweep(): void;
}

export class EventsWatcher {
  private top: FSWatcher | undefined;
  private readonly days = new Map<string, FSWatcher>();

  constructor(
    private readonly dir: string,
    private readonly written: () => void,
    private readonly hints: EventHintsSink | undefined,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    try {
      this.top = fsWatch(this.dir, { persistent: false }, (_type, name) => {
        if (name && DAY_RE.test(name)) this.attach(name);
        this.hints?.sweep();
        this.written();
      });
      this.top.on('error', (err) => this.failed(this.dir, err));
    } catch (err) {
      return this.failed(this.dir, err);
    }
    for (const day of await fs.readdir(this.dir).catch(() => [] as string[])) if (DAY_RE.test(day)) this.attach(day);
    this.hints?.watch();
  }

  stop(): void {
    this.hints?.unwatch();
    this.top?.close();
    this.top = undefined;
    for (const w of this.days.values()) w.close();
    this.days.clear();
  }

  private attach(day: string): void {
    const old = this.days.get(day);
    if (old) {
      // The same name again: a day removed (retention) or made anew. Watch what is there now.
      old.close();
      this.days.delete(day);
    }
    let w: FSWatcher;
    try {
      w = fsWatch(path.join(this.dir, day), { persistent: false }, (type, name) => {
        if (!name || type === 'rename') this.hints?.sweep();
        else this.hints?.hint(day, name);
        this.written();
      });
    } catch {
      return; // gone already (a removal): nothing to watch
    }
    w.on('error', () => {
      w.close();
      if (this.days.get(day) === w) this.days.delete(day);
      this.hints?.sweep();
    });
    this.days.set(day, w);
  }

  private failed(dir: string, err: unknown): void {
    this.hints?.unwatch();
    this.log.warn({ err }, `watching ${dir} failed; every observer pass lists the event files`);
  }
}
