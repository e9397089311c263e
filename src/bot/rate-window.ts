// One limiter per chat for the calls that post or change a message (sendMessage, editMessageText;
// answerCallbackQuery is not counted): Telegram allows a group about 20 in any minute (a sliding
// window) and a private chat about one a second with short bursts (a token bucket). Background
// lanes never spend it all: a reserve stays for answers to commands and presses
// (docs/design/telegram.md).

export interface WindowRule {
  /** Calls allowed in any window. */
  limit: number;
  windowMs: number;
  /** Of `limit`, how many only lane 1 (answers) may use. */
  reserve: number;
}

export interface BucketRule {
  /** The most calls in a burst. */
  burst: number;
  /** Calls per second on average. */
  perSecond: number;
  /** Of the bucket, how many calls only lane 1 (answers) may use. */
  reserve: number;
}

/** A group or supergroup (negative id): 20 in any 60 s, 5 of them kept for answers. */
export const GROUP_RULE: WindowRule = { limit: 20, windowMs: 60_000, reserve: 5 };
/** A private chat: 1 per second on average, bursts of 3, one kept for answers. */
export const PRIVATE_RULE: BucketRule = { burst: 3, perSecond: 1, reserve: 1 };

/** When the next call of a lane may be made, and the call made. */
export interface Limiter {
  readyAt(now: number, lane: Lane): number;
  record(now: number): void;
}

export function limiterFor(chatId: string): Limiter {
  return chatId.startsWith('-') ? new SlidingWindow(GROUP_RULE) : new TokenBucket(PRIVATE_RULE);
}

/**
 * Priority lanes, most urgent first: 1 answers to a command or a press, 2 new action messages,
 * 3 edits of messages already in the chat, 4 digests and notices.
 */
export type Lane = 1 | 2 | 3 | 4;

export class SlidingWindow implements Limiter {
  /** When each call in the window was made, oldest first. */
  private calls: number[] = [];

  constructor(readonly rule: WindowRule) {}

  /** The earliest time a call of `lane` may be made (≤ now: at once). */
  readyAt(now: number, lane: Lane): number {
    this.prune(now);
    const cap = lane === 1 ? this.rule.limit : Math.max(1, this.rule.limit - this.rule.reserve);
    if (this.calls.length < cap) return now;
    // Enough of the oldest calls must leave the window to make room for one more.
    return this.calls[this.calls.length - cap]! + this.rule.windowMs;
  }

  record(now: number): void {
    this.prune(now);
    this.calls.push(now);
  }

  /** Calls in the window now. */
  used(now: number): number {
    this.prune(now);
    return this.calls.length;
  }

  private prune(now: number): void {
    let i = 0;
    while (i < this.calls.length && this.calls[i]! <= now - this.rule.windowMs) i++;
    if (i > 0) this.calls.splice(0, i);
  }
}

export class TokenBucket implements Limiter {
  private tokens: number;
  private at: number | undefined;

  constructor(readonly rule: BucketRule) {
    this.tokens = rule.burst;
  }

  readyAt(now: number, lane: Lane): number {
    this.fill(now);
    const need = lane === 1 ? 1 : 1 + this.rule.reserve;
    if (this.tokens >= need - 1e-9) return now;
    return now + Math.ceil(((need - this.tokens) * 1000) / this.rule.perSecond);
  }

  record(now: number): void {
    this.fill(now);
    this.tokens -= 1;
  }

  private fill(now: number): void {
    if (this.at !== undefined) this.tokens = Math.min(this.rule.burst, this.tokens + ((now - this.at) * this.rule.perSecond) / 1000);
    this.at = now;
  }
}
