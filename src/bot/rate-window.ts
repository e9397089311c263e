// One sliding window per chat for the calls that post or change a message (sendMessage,
// editMessageText; answerCallbackQuery is not counted): Telegram allows a group about 20 in any
// minute and a private chat about one a second with short bursts. Background lanes never spend the
// whole window: a reserve stays for answers to commands and presses (docs/design/telegram.md).

export interface WindowRule {
  /** Calls allowed in any window. */
  limit: number;
  windowMs: number;
  /** Of `limit`, how many only lane 1 (answers) may use. */
  reserve: number;
}

/** A group or supergroup (negative id): 20 in any 60 s, 5 of them kept for answers. */
export const GROUP_RULE: WindowRule = { limit: 20, windowMs: 60_000, reserve: 5 };
/** A private chat: 1 per second on average, bursts of 3, one kept for answers. */
export const PRIVATE_RULE: WindowRule = { limit: 3, windowMs: 3_000, reserve: 1 };

export function ruleFor(chatId: string): WindowRule {
  return chatId.startsWith('-') ? GROUP_RULE : PRIVATE_RULE;
}

/**
 * Priority lanes, most urgent first: 1 answers to a command or a press, 2 new action messages,
 * 3 edits of messages already in the chat, 4 digests and notices.
 */
export type Lane = 1 | 2 | 3 | 4;

export class SlidingWindow {
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
