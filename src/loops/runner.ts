// The one kind of loop in the process: runs a pass every interval, never two passes at once, runs
// again at once when kicked during a pass, and backs off after failures (RETRY_POLICIES.loopPass:
// capped at the interval). A terminal error (errors.ts `isRetryable`) is logged once and tried
// again on the interval only. Time comes from a Clock (docs/design/time.md).
import { errorCode, isRetryable } from '../errors.js';
import type { Logger } from '../log.js';
import { backoffDelay, RETRY_POLICIES } from '../time/backoff.js';
import { realClock, type Clock } from '../time/clock.js';

const TRAILING_KICK_MS = 120;
/** The least wait before a pass asked for by a due time: a time already past is not a busy loop. */
export const DUE_WAKE_MIN_MS = 1000;

export interface RunnerStatus {
  name: string;
  passes: number;
  failures: number;
  consecutiveFailures: number;
  lastSuccessAt: number | null;
  /** When the loop was started: before its first pass succeeds, it is judged from then. */
  startedAt?: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  /** What kind of error the last failure was (errors.ts), for /healthz to decide on. */
  lastErrorCode: string | null;
  /** The last failure cannot be cured by trying again soon: the next pass waits for the interval. */
  lastErrorTerminal?: boolean;
  intervalMs: number;
  /** When the pass under way began (null between passes): a pass that never ends is stuck. */
  inFlightSince?: number | null;
  /**
   * The same moments on the monotonic clock (Clock.monotonic): what staleness and the watchdog
   * measure, so that a step of the wall clock (NTP, a VM resume) makes no loop look stale or stuck.
   */
  mono?: { started: number | null; lastSuccess: number | null; inFlightSince: number | null };
}

export class Runner {
  private cancelTimer: (() => void) | undefined;
  private cancelTrailing: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  readonly status: RunnerStatus;

  constructor(
    readonly name: string,
    private readonly intervalMs: number,
    private readonly pass: () => Promise<void>,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
    /**
     * When, on the wall clock, the loop's own state says a pass is due before the interval ends
     * (the supervisor's: the earliest due time of its plan); Infinity: only the interval.
     */
    private readonly due: () => number = () => Infinity,
  ) {
    this.status = {
      name,
      passes: 0,
      failures: 0,
      consecutiveFailures: 0,
      lastSuccessAt: null,
      startedAt: null,
      lastDurationMs: null,
      lastError: null,
      lastErrorCode: null,
      lastErrorTerminal: false,
      intervalMs,
      mono: { started: null, lastSuccess: null, inFlightSince: null },
    };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.status.startedAt ??= this.clock.now();
    this.status.mono!.started ??= this.clock.monotonic();
    this.kick();
  }

  /** Asks for a pass as soon as possible; several kicks during one pass give one more pass. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.launch(false);
  }

  /**
   * One pass, marked as under way: a kick meanwhile asks for one more after it, never a second
   * pass beside it (two supervisor passes at once would both close one notice, or neither).
   */
  private launch(rethrow: boolean): Promise<void> {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const pass = this.runOnce(rethrow);
    this.running = pass.catch(() => {}).finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.cancelTimer = this.clock.timer(0, () => this.kick());
      } else {
        this.schedule();
      }
    });
    return pass;
  }

  /**
   * A file watcher saw something. Kicks now and once more shortly after: chokidar throttles
   * repeated changes of one path (about 50 ms) and drops the trailing one, so a second write in
   * quick succession would otherwise wait for the interval.
   */
  hint(): void {
    this.kick();
    if (this.cancelTrailing || this.stopped) return;
    this.cancelTrailing = this.clock.timer(TRAILING_KICK_MS, () => {
      this.cancelTrailing = undefined;
      this.kick();
    });
  }

  /** Runs one pass now (for tools and tests); waits for a pass already under way first. */
  async runNow(): Promise<void> {
    while (this.running) await this.running;
    await this.launch(true);
  }

  private schedule(): void {
    const n = this.status.consecutiveFailures;
    // After failures: 1 s, 2 s, 4 s … but never longer than the normal interval; after a terminal
    // one, the interval (trying sooner cannot help).
    let delay = n === 0 || this.status.lastErrorTerminal ? this.intervalMs : backoffDelay(n, RETRY_POLICIES.loopPass(this.intervalMs));
    // A time that falls due sooner is met then, not at the interval's end.
    if (n === 0) delay = Math.min(delay, Math.max(DUE_WAKE_MIN_MS, this.due() - this.clock.now()));
    this.cancelTimer = this.clock.timer(delay, () => this.kick());
  }

  private async runOnce(rethrow = false): Promise<void> {
    const started = this.clock.now();
    this.status.inFlightSince = started;
    this.status.mono!.inFlightSince = this.clock.monotonic();
    try {
      await this.pass();
      this.status.passes++;
      this.status.consecutiveFailures = 0;
      this.status.lastSuccessAt = this.clock.now();
      this.status.mono!.lastSuccess = this.clock.monotonic();
      this.status.lastDurationMs = this.clock.now() - started;
      this.status.lastError = null;
      this.status.lastErrorCode = null;
      this.status.lastErrorTerminal = false;
    } catch (err) {
      const terminal = !isRetryable(err);
      const message = (err as Error).message;
      // A terminal error is said once while it lasts: the same one again is not news.
      const repeated = terminal && this.status.lastErrorTerminal === true && this.status.lastError === message;
      this.status.failures++;
      this.status.consecutiveFailures++;
      this.status.lastError = message;
      this.status.lastErrorCode = errorCode(err);
      this.status.lastErrorTerminal = terminal;
      if (repeated) this.log.debug({ loop: this.name, failures: this.status.consecutiveFailures }, `${this.name} pass failed again the same way`);
      else this.log.error({ err, loop: this.name, failures: this.status.consecutiveFailures, ...(terminal ? { terminal: true } : {}) }, terminal ? `${this.name} pass failed; trying again in ${Math.round(this.intervalMs / 1000)} s (retrying sooner cannot help)` : `${this.name} pass failed`);
      if (rethrow) throw err;
    } finally {
      this.status.inFlightSince = null;
      this.status.mono!.inFlightSince = null;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTrailing?.();
    this.cancelTrailing = undefined;
    this.cancelTimer = undefined;
    while (this.running) await this.running;
  }
}

/** A loop whose pass has been under way this many intervals is stuck, not slow. */
export const STUCK_INTERVALS = 5;

/** The loops stuck in one pass now (on the monotonic clock: `nowMono` is Clock.monotonic()). */
export function stuckLoops(statuses: readonly RunnerStatus[], nowMono: number): { name: string; sinceMs: number }[] {
  return statuses.flatMap((r) => {
    const since = r.mono?.inFlightSince;
    return since != null && nowMono - since > STUCK_INTERVALS * r.intervalMs ? [{ name: r.name, sinceMs: nowMono - since }] : [];
  });
}

/**
 * How long since a loop last completed a pass (or started, before its first), on the monotonic
 * clock; null if never started. A status without monotonic moments (made elsewhere than by a
 * Runner) is read on the wall clock, `nowWall`.
 */
export function sincePass(r: RunnerStatus, nowMono: number, nowWall?: number): number | null {
  if (!r.mono && nowWall !== undefined) {
    const wall = r.lastSuccessAt ?? r.startedAt ?? null;
    return wall === null ? null : nowWall - wall;
  }
  const since = r.mono?.lastSuccess ?? r.mono?.started ?? null;
  return since === null ? null : nowMono - since;
}
