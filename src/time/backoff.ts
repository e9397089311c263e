// One backoff policy for everything that retries (docs/design/time.md): exponential from
// `initialMs`, doubling, capped at `maxMs`, with full jitter on the upper half so that several
// retriers do not move in step.
import type { Clock } from './clock.js';

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** 0 = exact delays (tests, schedules that must be predictable); 0.5 = ±25 % around the delay. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, jitter: 0.5 };

/** The delay before retry number `attempt` (1 = the first retry). */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  if (policy.jitter <= 0) return base;
  const spread = base * policy.jitter;
  return Math.max(0, Math.min(policy.maxMs, Math.round(base - spread / 2 + random() * spread)));
}

/** What a retrier may learn from an error: retry or not, and after how long when the other side said. */
export type RetryVerdict = boolean | { afterMs: number };

export interface RetryOptions {
  /** Whether (and when) to try again after `err`. */
  isRetryable: (err: unknown) => RetryVerdict;
  clock: Clock;
  signal?: AbortSignal;
  policy?: BackoffPolicy;
  /** At most this many attempts in all (default: no limit). */
  maxAttempts?: number;
  /** Told before each wait. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
}

/**
 * Runs `task` until it succeeds, an error is not retryable, the attempts run out, or `signal`
 * aborts (then the last error is thrown, or an AbortError when there was none).
 */
export async function withRetries<T>(task: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    try {
      return await task(attempt);
    } catch (err) {
      const verdict = opts.isRetryable(err);
      if (verdict === false || (opts.maxAttempts !== undefined && attempt >= opts.maxAttempts) || opts.signal?.aborted) throw err;
      const delay = typeof verdict === 'object' ? verdict.afterMs : backoffDelay(attempt, opts.policy, opts.random);
      opts.onRetry?.(err, attempt, delay);
      await opts.clock.sleep(delay, opts.signal);
      if (opts.signal?.aborted) throw err;
    }
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error('aborted'), { name: 'AbortError' });
}
