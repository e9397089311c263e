// How fast the outbox may write to each chat: its sliding window of calls by lane (rate-window.ts),
// and a pause when Telegram asked for one (429 retry_after), is down (5xx, network: backoff), or
// the chat is unavailable (probes with backoff) — the outbox's limiter, apart from its queue and
// its deliveries.
import { backoffDelay, RETRY_POLICIES, type BackoffPolicy } from '../time/backoff.js';
import { limiterFor, type Lane, type Limiter } from './rate-window.js';

export class ChatPace {
  private readonly windows = new Map<string, Limiter>();
  private readonly pausedUntil = new Map<string, number>();
  private readonly failuresInRow = new Map<string, number>();
  /** Until when each chat waits because Telegram said so (429): a wait, not a fault. */
  private readonly rateLimitedUntil = new Map<string, number>();

  constructor(private readonly limiter?: (chatId: string) => Limiter) {}

  private window(chatId: string): Limiter {
    let w = this.windows.get(chatId);
    if (!w) this.windows.set(chatId, (w = this.limiter?.(chatId) ?? limiterFor(chatId)));
    return w;
  }

  /** When the chat's next call in `lane` may go: its window, and any pause. */
  readyAt(chatId: string, lane: Lane, now: number): number {
    return Math.max(this.window(chatId).readyAt(now, lane), this.pausedUntil.get(chatId) ?? 0);
  }

  /** A call was made now. */
  called(chatId: string, now: number): void {
    this.window(chatId).record(now);
  }

  /** A call worked: failures in a row start again from none. */
  worked(chatId: string): void {
    this.failuresInRow.delete(chatId);
  }

  /** Telegram said when (429 retry_after: `rateLimit`), or never again until a restart (401: Infinity). */
  pauseUntil(chatId: string, at: number, rateLimit = false): void {
    this.pausedUntil.set(chatId, at);
    if (rateLimit) this.rateLimitedUntil.set(chatId, at);
  }

  /** Whether the chat waits now only because Telegram asked it to (429), or by its own window. */
  waitsAsAsked(chatId: string, lane: Lane, now: number): boolean {
    return (this.rateLimitedUntil.get(chatId) ?? 0) > now || this.window(chatId).readyAt(now, lane) > now;
  }

  /** One more failure in a row: pauses the chat by the policy's delay for it, and returns the delay. */
  backOff(chatId: string, now: number, policy: BackoffPolicy = RETRY_POLICIES.outboxSend): number {
    const n = (this.failuresInRow.get(chatId) ?? 0) + 1;
    this.failuresInRow.set(chatId, n);
    const delay = backoffDelay(n, policy);
    this.pausedUntil.set(chatId, now + delay);
    return delay;
  }
}
