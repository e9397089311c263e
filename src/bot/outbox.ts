// The persistent outbox. Every message the bot shows is a record under state/telegram/outbox/
// holding what the message *should* say (the queue: outbox-queue.ts); this worker makes Telegram
// match it: sendMessage the first
// time, editMessageText after that. Several changes before a delivery collapse into one edit, so
// the order of states per message can never be wrong. Nothing is lost across a restart or while
// Telegram is unreachable; rate limits and 429 retry_after are honoured. Which message goes next
// is chosen by lane (answers first) within each chat's sliding window (chat-pace.ts); what a
// refused call means is send-failure.ts.
import type { Logger } from '../log.js';
import { backoffDelay, RETRY_POLICIES } from '../time/backoff.js';
import { plainText } from './html-split.js';
import { realClock, type Clock } from '../time/clock.js';
import { OutboxFiles, type Meta, type MetaOf, type OutboxRecords, type OutRecord } from '../store/outbox-files.js';
import type { Buttons } from './render.js';
import type { Lane, Limiter } from './rate-window.js';
import { ChatPace } from './chat-pace.js';
import { OutboxQueue, type Content } from './outbox-queue.js';
import { classifySendFailure } from './send-failure.js';

/** What the sender needs from the Bot API. */
export interface TelegramTransport {
  /** `plain`: send the text as it is, without parse_mode; `quiet`: without a sound (disable_notification). */
  sendMessage(chatId: string, text: string, buttons: Buttons, threadId?: number, plain?: boolean, quiet?: boolean): Promise<{ message_id: number }>;
  editMessageText(chatId: string, messageId: number, text: string, buttons: Buttons, plain?: boolean): Promise<void>;
}

/**
 * Whether Telegram can be written to: `unavailable` (403: the bot was blocked, kicked, or the chat
 * is gone: every message is kept and one probe tries again with backoff, at most every 10 min),
 * `unauthorized` (401: the token was revoked; nothing is sent until a restart with a new one).
 */
export interface TelegramHealth {
  state: 'ok' | 'unavailable' | 'unauthorized';
  reason?: string;
  since?: string;
}

export interface OutboxStats {
  sent: number;
  edited: number;
  retries: number;
  failures: number;
  rate_limited: number;
}

export interface OutboxOptions {
  dir: string;
  transport: TelegramTransport;
  log: Logger;
  /** Time and the waits between calls (default: the real clock). */
  clock?: Clock;
  /** The forum topic new messages go to unless told otherwise (TELEGRAM_THREAD_ID). */
  threadId?: number;
  pageUrl?: string;
  /** The limit of a chat (default: 20 in any minute in groups, 1/s with bursts of 3 in private chats). */
  limiter?: (chatId: string) => Limiter;
  /** Awaited before every call, beside the write of the intent (the button reference table). */
  beforeSend?: () => Promise<void>;
  /** Writes one record's file (default: atomically, with fsync); tests slow it down. */
  writeRecord?: (file: string, rec: OutRecord) => Promise<void>;
  /** Where the records live instead of `dir` (NATS KV, shared by the control planes). */
  records?: OutboxRecords;
}

/** Edits of one message within this long of its last delivery go as one (the last state wins). */
export const EDIT_MERGE_MS = 1000;

export class Outbox {
  private healthState: TelegramHealth = { state: 'ok' };

  /** Telegram's state as seen by the last calls (for /healthz; never a reason for a 503). */
  get health(): TelegramHealth {
    return { ...this.healthState };
  }
  private stopped = true;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  readonly stats: OutboxStats = { sent: 0, edited: 0, retries: 0, failures: 0, rate_limited: 0 };
  private readonly clock: Clock;
  /** Per waiting record, when its own wait ends (monotonic), and the stamps it was worked out from: ownWaitMs. */
  private readonly ownDue = new Map<string, { stamp: string; at: number }>();
  /** Per message waiting to be delivered, since when (monotonic): stalledForMs. */
  private readonly waitingSince = new Map<string, number>();
  private readonly queue: OutboxQueue;
  /** Each chat's window and pauses (chat-pace.ts). */
  private readonly pace: ChatPace;

  constructor(private readonly opts: OutboxOptions) {
    this.clock = opts.clock ?? realClock;
    this.queue = new OutboxQueue({
      files: opts.records ?? new OutboxFiles(opts.dir, opts.log, opts.writeRecord),
      log: opts.log,
      now: () => this.now(),
      changed: () => this.kick(),
      ...(opts.threadId !== undefined ? { threadId: opts.threadId } : {}),
      ...(opts.pageUrl !== undefined ? { pageUrl: opts.pageUrl } : {}),
    });
    this.pace = new ChatPace(opts.limiter);
  }

  private now(): number {
    return this.clock.now();
  }

  /** The chats' pace (windows, pauses, backoffs) runs on the monotonic clock: a step of the wall clock neither holds a chat nor lets it burst. */
  private mono(): number {
    return this.clock.monotonic();
  }

  load(): Promise<void> {
    return this.queue.load();
  }

  get(key: string): OutRecord | undefined {
    return this.queue.get(key);
  }

  /** The record of a message in the chat (the one a button was pressed on). */
  byMessage(chatId: string | number, messageId: number): OutRecord | undefined {
    return this.queue.byMessage(chatId, messageId);
  }

  /** The next delivery of `key` answers a press or a command: it goes first (lane 1). */
  prioritise(key: string): void {
    this.queue.prioritise(key);
  }

  all(): OutRecord[] {
    return this.queue.all();
  }

  pending(): OutRecord[] {
    return this.queue.pending();
  }

  /** What the message `key` should say (OutboxQueue.upsert); false when it already says exactly that. */
  upsert(key: string, content: Content): Promise<boolean> {
    return this.queue.upsert(key, content);
  }

  /** Changes only the bookkeeping of a record (no new delivery). */
  setMeta<K extends Meta['kind']>(key: string, kind: K, patch: Partial<MetaOf<K>>): Promise<void> {
    return this.queue.setMeta(key, kind, patch);
  }

  remove(key: string): Promise<void> {
    return this.queue.remove(key);
  }

  /** Removes the records retention retires (store/outbox-files.ts retiredRecord); returns their keys. */
  prune(beforeIso: string, removedKeys: ReadonlySet<string>): Promise<string[]> {
    return this.queue.prune(beforeIso, removedKeys);
  }

  /** Which lane the next delivery of a record is in (rate-window.ts). */
  lane(r: OutRecord): Lane {
    return this.queue.lane(r);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.loopDone;
  }

  kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /**
   * How long the oldest message has waited to be delivered, not counting one that waits only
   * because Telegram asked (429) or its chat's window is full: the dead-man's switch reads it.
   */
  stalledForMs(): number | undefined {
    const now = this.now();
    const mono = this.mono();
    let longest: number | undefined;
    const waiting = new Set<string>();
    for (const r of this.queue.pending()) {
      if (this.pace.waitsAsAsked(r.chat_id, this.queue.lane(r), mono)) continue;
      waiting.add(r.key);
      // First seen waiting: its wall-clock age then, carried on the monotonic clock from there on
      // (a step of the wall clock makes no message look stalled, or fresh).
      let since = this.waitingSince.get(r.key);
      if (since === undefined) this.waitingSince.set(r.key, (since = mono - Math.max(0, now - Date.parse(r.queued_at))));
      if (longest === undefined || mono - since > longest) longest = mono - since;
    }
    for (const key of this.waitingSince.keys()) if (!waiting.has(key)) this.waitingSince.delete(key);
    return longest;
  }

  /** Resolves once nothing is waiting to be delivered (for tests and shutdown). */
  whenIdle(): Promise<void> {
    if (this.pending().length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * How long a record itself must still wait, whatever the chat's window: until its `retry_at`, and — for an
   * edit that answers no press — EDIT_MERGE_MS after its last delivery, so that quick successive
   * changes of one message ("completed", then "verified" a moment later) are one edit.
   */
  private ownWaitMs(r: OutRecord, now: number, mono: number): number {
    const urgent = this.queue.isUrgent(r.key);
    const stamp = `${r.retry_at ?? ''}|${r.delivered_at ?? ''}|${r.message_id ?? ''}|${urgent}`;
    let due = this.ownDue.get(r.key);
    if (due?.stamp !== stamp) {
      // The persisted wall times are read once, each wait capped at its longest, and carried on
      // the monotonic clock from then on: a step of the wall clock back holds no record longer.
      const retry = r.retry_at ? Math.min(Date.parse(r.retry_at) - now, RETRY_POLICIES.outboxRefused.maxMs) : 0;
      const merge = r.message_id !== null && r.delivered_at && !urgent ? Math.min(Date.parse(r.delivered_at) + EDIT_MERGE_MS - now, EDIT_MERGE_MS) : 0;
      this.ownDue.set(r.key, (due = { stamp, at: mono + Math.max(retry, merge, 0) }));
    }
    return Math.max(0, due.at - mono);
  }
  /** The worker waits (for a wake or a timer) and is doing nothing else: what a test on a fake clock waits for. */
  get parked(): boolean {
    return this.parkedNow;
  }
  private parkedNow = false;

  private async park(wait: Promise<void>): Promise<void> {
    this.parkedNow = true;
    try {
      await wait;
    } finally {
      this.parkedNow = false;
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const waiting = this.queue.order();
      if (waiting.length === 0) {
        for (const w of this.idleWaiters.splice(0)) w();
        await this.park(new Promise<void>((resolve) => (this.wake = resolve)));
        continue;
      }
      const now = this.now();
      const mono = this.mono();
      // The first in order per chat; a chat that must wait does not hold up another chat.
      const seen = new Set<string>();
      let next: OutRecord | undefined;
      let wait = Infinity;
      for (const r of waiting) {
        // A record's own wait (a retry later, or an edit merged with the next ones) holds up only it.
        const own = this.ownWaitMs(r, now, mono);
        if (own > 0) {
          wait = Math.min(wait, own);
          continue;
        }
        if (seen.has(r.chat_id)) continue;
        seen.add(r.chat_id);
        const at = this.pace.readyAt(r.chat_id, this.queue.lane(r), mono);
        if (at <= mono) {
          next = r;
          break;
        }
        wait = Math.min(wait, at - mono);
      }
      if (this.ownDue.size > waiting.length) {
        const keys = new Set(waiting.map((r) => r.key));
        for (const key of this.ownDue.keys()) if (!keys.has(key)) this.ownDue.delete(key);
      }
      if (!next) {
        const woken = new AbortController();
        this.wake = () => woken.abort();
        // Paused for good (401): only a wake (a stop) ends the wait.
        if (!Number.isFinite(wait)) await this.park(new Promise<void>((resolve) => woken.signal.addEventListener('abort', () => resolve(), { once: true })));
        else await this.park(this.clock.sleep(Math.max(1, wait), woken.signal));
        continue;
      }
      await this.deliver(next);
    }
  }

  private async deliver(r: OutRecord): Promise<void> {
    const rev = r.rev;
    const { transport } = this.opts;
    this.pace.called(r.chat_id, this.mono());
    const plain = r.plain === true;
    const marked = r.resent ? `${plain ? '' : '<i>'}↻ re-sent after a restart${plain ? '' : '</i>'}\n${r.text}` : r.text;
    const text = plain ? plainText(marked) : marked;
    try {
      let messageId = r.message_id;
      // The buttons' references are on disk before any message carries them.
      const ready = this.opts.beforeSend?.() ?? Promise.resolve();
      if (messageId === null) {
        // The intent is on disk before the call, the message id as soon as it returns.
        await Promise.all([this.queue.save({ ...(this.queue.get(r.key) ?? r), in_flight_since: new Date(this.now()).toISOString() }), ready]);
        messageId = (await transport.sendMessage(r.chat_id, text, r.buttons, r.thread_id ?? undefined, plain, r.quiet === true)).message_id;
        this.stats.sent++;
      } else {
        await ready;
        await transport.editMessageText(r.chat_id, messageId, text, r.buttons, plain);
        this.stats.edited++;
      }
      this.pace.worked(r.chat_id);
      this.queue.answered(r.key, rev);
      this.reachable();
      await this.delivered(r.key, rev, messageId, null);
    } catch (err) {
      await this.failed(r, rev, err);
    }
  }

  /** A call worked: a chat that was unavailable is back, and says so once. */
  private reachable(): void {
    if (this.healthState.state !== 'unavailable') return;
    this.opts.log.info({ was: this.healthState.reason }, 'the Telegram chat is reachable again; every message catches up');
    this.healthState = { state: 'ok' };
  }

  /** Acts on what a refused or failed call means (send-failure.ts); nothing is dropped silently. */
  private async failed(r: OutRecord, rev: number, err: unknown): Promise<void> {
    const { log } = this.opts;
    const { verdict, code, reason: desc } = classifySendFailure(err);
    const method = r.message_id === null ? 'sendMessage' : 'editMessageText';
    // Telegram answered: the message was not sent. (A lost connection leaves the intent in place.)
    if (typeof code === 'number' && this.queue.get(r.key)?.in_flight_since) await this.queue.patch(r.key, () => ({ in_flight_since: null }));
    switch (verdict.kind) {
      case 'rate_limited':
        this.pace.pauseUntil(r.chat_id, this.mono() + verdict.afterMs, true);
        this.stats.rate_limited++;
        this.stats.retries++;
        log.warn({ key: r.key, retry_after_s: verdict.afterMs / 1000 }, 'Telegram asked to slow down (429); waiting as told');
        return;
      case 'not_modified':
        return this.delivered(r.key, rev, r.message_id, null);
      case 'message_gone':
        return this.queue.patch(r.key, () => ({ message_id: null }));
      case 'unavailable':
        return this.unavailable(r, desc);
      case 'unauthorized':
        if (this.healthState.state !== 'unauthorized') log.error('Telegram answered 401 Unauthorized: TELEGRAM_BOT_TOKEN was revoked; messages stay queued until a restart with a new token from @BotFather');
        this.healthState = { state: 'unauthorized', reason: desc, since: new Date(this.now()).toISOString() };
        this.pace.pauseUntil(r.chat_id, Number.POSITIVE_INFINITY);
        return;
      case 'refused':
        return this.refused(r, rev, method, code!, desc);
      case 'transient': {
        const backoff = this.pace.backOff(r.chat_id, this.mono(), RETRY_POLICIES.outboxSend);
        this.stats.retries++;
        await this.queue.patch(r.key, (cur) => ({ attempts: cur.attempts + 1, last_error: desc.slice(0, 300) }));
        log.warn({ key: r.key, code, error: desc, retry_in_ms: backoff }, 'sending to Telegram failed; will retry');
      }
    }
  }

  /** Telegram refused these words: as plain text next; an open decision is never given up. */
  private async refused(r: OutRecord, rev: number, method: string, code: number, desc: string): Promise<void> {
    const { log } = this.opts;
    this.stats.failures++;
    const cur = this.queue.get(r.key);
    if (cur && !cur.plain) {
      // Telegram refused our HTML: a bug on our side. Say exactly what, and send the same words as plain text.
      log.error({ method, key: r.key, code, reason: desc }, `Telegram refused ${method} (${code}: ${desc}); sending it again as plain text`);
      return this.queue.save({ ...cur, plain: true, last_error: `${code}: ${desc}`.slice(0, 300) });
    }
    if (cur && !cur.meta.final && (cur.meta.kind === 'action' || cur.meta.kind === 'group' || cur.meta.kind === 'list')) {
      // A message about an open decision is never given up: tried again later, said each time.
      const attempts = cur.attempts + 1;
      const wait = backoffDelay(attempts, RETRY_POLICIES.outboxRefused);
      log.error({ method, key: r.key, code, reason: desc, attempts, retry_in_s: wait / 1000 }, `Telegram refused ${method} even as plain text (${code}: ${desc}); it is about an open decision, so it is kept and tried again in ${Math.round(wait / 1000)} s (attempt ${attempts})`);
      return this.queue.save({ ...cur, attempts, last_error: `${code}: ${desc}`.slice(0, 300), retry_at: new Date(this.now() + wait).toISOString() });
    }
    log.error({ method, key: r.key, code, reason: desc }, `Telegram refused ${method} even as plain text (${code}: ${desc}); this message is given up`);
    return this.delivered(r.key, rev, r.message_id, `${code}: ${desc}`);
  }

  /** 403: blocked by the user, kicked from the group, or the chat is gone. Keep everything; probe with backoff. */
  private unavailable(r: OutRecord, desc: string): void {
    this.pace.backOff(r.chat_id, this.mono(), RETRY_POLICIES.outboxProbe);
    if (this.healthState.state !== 'unavailable') {
      this.opts.log.error({ chat: r.chat_id, reason: desc }, `the Telegram chat is unavailable (${desc}): add the bot to the chat again or unblock it; every message is kept and sent when it is back`);
      this.healthState = { state: 'unavailable', reason: desc, since: new Date(this.now()).toISOString() };
    }
  }

  private async delivered(key: string, rev: number, messageId: number | null, error: string | null): Promise<void> {
    await this.queue.patch(key, (cur) => ({
      message_id: messageId,
      in_flight_since: null,
      delivered_rev: Math.max(cur.delivered_rev, rev),
      delivered_at: new Date(this.now()).toISOString(),
      attempts: 0,
      last_error: error,
      retry_at: null,
    }));
  }
}
