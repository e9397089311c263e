// The one place that touches the wall clock and timers (docs/design/time.md). Everything else
// takes a Clock: the real one in production, a FakeClock in tests, which moves only when told
// and so makes time-driven code testable without waiting.

export interface Clock {
  /** Milliseconds since the epoch: the wall clock, which NTP or a VM resume may step. */
  now(): number;
  /**
   * Milliseconds on a clock that never steps (it only moves forward, with real time): for how long
   * something in this process has lasted — a pass, a wait, a watchdog — never for what time it is.
   */
  monotonic(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms`; returns a function that cancels it. Never keeps the process alive. */
  timer(ms: number, fn: () => void): () => void;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export const realClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep(ms, signal) {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      // (setTimeout takes at most 2^31−1 ms; more would fire at once.)
      const t = setTimeout(done, Math.min(MAX_TIMER_MS, Math.max(0, ms)));
      signal?.addEventListener('abort', done, { once: true });
    });
  },
  timer(ms, fn) {
    const t = setTimeout(fn, Math.min(MAX_TIMER_MS, Math.max(0, ms)));
    t.unref?.();
    return () => clearTimeout(t);
  },
};

/**
 * `p`, or `late()`'s error once `ms` have passed on `clock` (the work itself is not stopped: a
 * Docker call that hangs is left to end on its own).
 */
export async function withDeadline<T>(clock: Clock, ms: number, p: Promise<T>, late: () => Error): Promise<T> {
  let cancel: (() => void) | undefined;
  const timeout = new Promise<never>((_, reject) => {
    cancel = clock.timer(ms, () => reject(late()));
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    cancel?.();
  }
}

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock for tests: `now()` stands still until `advance()` or `set()` moves it, and then every
 * timer and sleep that falls due runs, in time order, with promise callbacks settled in between
 * (so code awaiting a sleep gets to run before the next timer fires).
 */
export class FakeClock implements Clock {
  private t: number;
  private mono = 0;
  private seq = 0;
  private queue: Pending[] = [];

  constructor(start: number | string = Date.parse('2026-05-27T14:00:00.000Z')) {
    this.t = typeof start === 'string' ? Date.parse(start) : start;
  }

  now(): number {
    return this.t;
  }

  /** Moves with advance() and set(), not with jump(). */
  monotonic(): number {
    return this.mono;
  }

  /**
   * Steps the wall clock by `ms` (forward or back, as NTP or a VM resume does) without time
   * passing: no timer runs, the monotonic clock stays where it is.
   */
  jump(ms: number): void {
    this.t += ms;
  }

  /** Timers run on the monotonic timeline, as setTimeout does: a jump of the wall clock moves none. */
  timer(ms: number, fn: () => void): () => void {
    const p: Pending = { at: this.mono + Math.max(0, ms), seq: this.seq++, fn };
    this.queue.push(p);
    return () => {
      this.queue = this.queue.filter((x) => x !== p);
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const cancel = this.timer(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      const onAbort = () => {
        cancel();
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** How many timers and sleeps are waiting. */
  get pending(): number {
    return this.queue.length;
  }

  /** When the next timer falls due (wall-clock time, as now() reads), or undefined. */
  get nextAt(): number | undefined {
    return this.queue.length ? this.t + (Math.min(...this.queue.map((p) => p.at)) - this.mono) : undefined;
  }

  /** Moves time forward by `ms`, running everything that falls due on the way. */
  async advance(ms: number): Promise<void> {
    await this.set(this.t + ms);
  }

  /** Moves time to `to` (wall clock), running everything that falls due on the way, in order. */
  async set(to: number): Promise<void> {
    await settle();
    const end = this.mono + Math.max(0, to - this.t);
    for (;;) {
      const due = this.queue.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.queue = this.queue.filter((p) => p !== due);
      const step = Math.max(0, due.at - this.mono);
      this.mono += step;
      this.t += step;
      due.fn();
      await settle();
    }
    this.t += end - this.mono;
    this.mono = end;
    await settle();
  }

  /** Runs whatever is due now (timers of 0 ms) and lets promise callbacks settle. */
  async flush(): Promise<void> {
    await this.set(this.t);
  }
}

/** Lets pending promise callbacks (and those they schedule) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
