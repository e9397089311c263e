// The one place that touches the wall clock and timers (docs/design/time.md). Everything else
// takes a Clock: the real one in production, a FakeClock in tests, which moves only when told
// and so makes time-driven code testable without waiting.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms`; returns a function that cancels it. Never keeps the process alive. */
  timer(ms: number, fn: () => void): () => void;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export const realClock: Clock = {
  now: () => Date.now(),
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
  private seq = 0;
  private queue: Pending[] = [];

  constructor(start: number | string = Date.parse('2026-05-27T14:00:00.000Z')) {
    this.t = typeof start === 'string' ? Date.parse(start) : start;
  }

  now(): number {
    return this.t;
  }

  timer(ms: number, fn: () => void): () => void {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
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

  /** When the next timer falls due, or undefined. */
  get nextAt(): number | undefined {
    return this.queue.length ? Math.min(...this.queue.map((p) => p.at)) : undefined;
  }

  /** Moves time forward by `ms`, running everything that falls due on the way. */
  async advance(ms: number): Promise<void> {
    await this.set(this.t + ms);
  }

  /** Moves time to `to`, running everything that falls due on the way, in order. */
  async set(to: number): Promise<void> {
    await settle();
    for (;;) {
      const due = this.queue.filter((p) => p.at <= to).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.queue = this.queue.filter((p) => p !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
      await settle();
    }
    this.t = Math.max(this.t, to);
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
