// The one kind of timer in the process: a loop that runs a pass every interval, never two passes
// at once, runs again at once when kicked during a pass, and backs off after failures.
import type { Logger } from '../log.js';

const TRAILING_KICK_MS = 120;

export interface RunnerStatus {
  name: string;
  passes: number;
  failures: number;
  consecutiveFailures: number;
  lastSuccessAt: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  intervalMs: number;
}

export class Runner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private trailing: NodeJS.Timeout | undefined;
  private stopped = true;
  readonly status: RunnerStatus;

  constructor(
    readonly name: string,
    private readonly intervalMs: number,
    private readonly pass: () => Promise<void>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.status = {
      name,
      passes: 0,
      failures: 0,
      consecutiveFailures: 0,
      lastSuccessAt: null,
      lastDurationMs: null,
      lastError: null,
      intervalMs,
    };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.kick();
  }

  /** Asks for a pass as soon as possible; several kicks during one pass give one more pass. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.runOnce().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        setImmediate(() => this.kick());
      } else {
        this.schedule();
      }
    });
  }

  /**
   * A file watcher saw something. Kicks now and once more shortly after: chokidar throttles
   * repeated changes of one path (about 50 ms) and drops the trailing one, so a second write in
   * quick succession would otherwise wait for the interval.
   */
  hint(): void {
    this.kick();
    if (this.trailing || this.stopped) return;
    this.trailing = setTimeout(() => {
      this.trailing = undefined;
      this.kick();
    }, TRAILING_KICK_MS);
    this.trailing.unref?.();
  }

  /** Runs one pass now (for tools and tests); waits for a pass already under way first. */
  async runNow(): Promise<void> {
    while (this.running) await this.running;
    await this.runOnce(true);
  }

  private schedule(): void {
    const n = this.status.consecutiveFailures;
    // After failures: 1 s, 2 s, 4 s … but never longer than the normal interval.
    const delay = n === 0 ? this.intervalMs : Math.min(this.intervalMs, 1000 * 2 ** Math.min(n - 1, 16));
    this.timer = setTimeout(() => this.kick(), delay);
    this.timer.unref?.();
  }

  private async runOnce(rethrow = false): Promise<void> {
    const started = this.now();
    try {
      await this.pass();
      this.status.passes++;
      this.status.consecutiveFailures = 0;
      this.status.lastSuccessAt = this.now();
      this.status.lastDurationMs = this.now() - started;
      this.status.lastError = null;
    } catch (err) {
      this.status.failures++;
      this.status.consecutiveFailures++;
      this.status.lastError = (err as Error).message;
      this.log.error({ err, loop: this.name, failures: this.status.consecutiveFailures }, `${this.name} pass failed`);
      if (rethrow) throw err;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.trailing);
    this.trailing = undefined;
    this.timer = undefined;
    while (this.running) await this.running;
  }
}
