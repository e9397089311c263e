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

/**
 * Every retrier's policy, by name (docs/design/time.md): the one place to read or change how
 * fast anything retries. Persisted schedules (the outbox) use no jitter, so a restart computes
 * the same delays.
 */
export const RETRY_POLICIES = {
  /** A loop's pass that failed with a retryable error: 1 s, 2 s, 4 s … never past its interval. */
  loopPass: (intervalMs: number): BackoffPolicy => ({ initialMs: 1000, maxMs: intervalMs, jitter: 0 }),
  /** The agent following its engine's event stream. */
  engineEvents: { initialMs: 500, maxMs: 30_000, jitter: 0.5 },
  /** The agent pushing its spool to the control plane. */
  agentPush: DEFAULT_BACKOFF,
  /** One registry request that met a network error or a 5xx: three attempts in all, then the check reports it. */
  registry: { initialMs: 1000, maxMs: 8000, jitter: 0.5 },
  /** The bot's start-up calls (setMyCommands) and its long polling. */
  telegram: DEFAULT_BACKOFF,
  /** The outbox: a chat whose sends fail (5xx, network). */
  outboxSend: { initialMs: 500, maxMs: 60_000, jitter: 0 },
  /** The outbox: probing a chat that is unavailable (403, chat not found). */
  outboxProbe: { initialMs: 5000, maxMs: 10 * 60_000, jitter: 0 },
  /** The outbox: a message about an open decision that Telegram refused even as plain text. */
  outboxRefused: { initialMs: 30_000, maxMs: 10 * 60_000, jitter: 0 },
} as const satisfies Record<string, BackoffPolicy | ((intervalMs: number) => BackoffPolicy)>;

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
