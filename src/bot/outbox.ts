// The persistent outbox. Every message the bot shows is a record under state/telegram/outbox/
// holding what the message *should* say; a worker makes Telegram match it: sendMessage the first
// time, editMessageText after that. Several changes before a delivery collapse into one edit, so
// the order of states per message can never be wrong. Nothing is lost across a restart or while
// Telegram is unreachable; rate limits and 429 retry_after are honoured. Which message goes next
// is chosen by lane (answers first) within each chat's sliding window (rate-window.ts).
import type { Logger } from '../log.js';
import { backoffDelay, RETRY_POLICIES } from '../time/backoff.js';
import { plainText } from './html-split.js';
import { realClock, type Clock } from '../time/clock.js';
import { MetaSchema, OUTBOX_VERSION, OutboxFiles, type Meta, type MetaOf, type OutRecord } from '../store/outbox-files.js';

import { shorten, type Buttons } from './render.js';
import { refFor } from './refs.js';
import type { Lane, Limiter } from './rate-window.js';
import { ChatPace } from './chat-pace.js';


/** What the sender needs from the Bot API. */
export interface TelegramTransport {
  /** `plain`: send the text as it is, without parse_mode. */
  sendMessage(chatId: string, text: string, buttons: Buttons, threadId?: number, plain?: boolean): Promise<{ message_id: number }>;
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


/** An error as grammY reports it: the API said no (with a code), or the network failed. */
interface ApiErrorLike {
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
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
}

/** Edits of one message within this long of its last delivery go as one (the last state wins). */
export const EDIT_MERGE_MS = 1000;

export class Outbox {
  private records = new Map<string, OutRecord>();
  private byMessageMap = new Map<string, string>();
  /** Records whose next delivery answers a press or a command (lane 1), until it is made. */
  private urgent = new Set<string>();
  /** The record being delivered right now. */
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

  private readonly files: OutboxFiles;
  /** Each chat's window and pauses (chat-pace.ts). */
  private readonly pace: ChatPace;

  constructor(private readonly opts: OutboxOptions) {
    this.clock = opts.clock ?? realClock;
    this.files = new OutboxFiles(opts.dir, opts.log, opts.writeRecord);
    this.pace = new ChatPace(opts.limiter);
  }

  private now(): number {
    return this.clock.now();
  }

  async load(): Promise<void> {
    for (let rec of await this.files.load()) {
      if (rec.in_flight_since && rec.message_id === null) {
        // The Bot API cannot tell whether that call landed: send it again, marked, so a duplicate
        // is visible and small; its buttons and later edits belong to the new message only.
        rec = { ...rec, in_flight_since: null, resent: true };
        await this.files.write(rec);
        this.opts.log.warn({ key: rec.key }, 'a message was being sent when the process stopped; sending it again, marked "re-sent after a restart"');
      }
      this.index(rec);
    }
  }

  get(key: string): OutRecord | undefined {
    return this.records.get(key);
  }

  /** The record of a message in the chat (the one a button was pressed on). */
  byMessage(chatId: string | number, messageId: number): OutRecord | undefined {
    const key = this.byMessageMap.get(`${chatId}/${messageId}`);
    return key ? this.records.get(key) : undefined;
  }

  /** The next delivery of `key` answers a press or a command: it goes first (lane 1). */
  prioritise(key: string): void {
    const r = this.records.get(key);
    if (r && r.rev > r.delivered_rev) this.urgent.add(key);
  }

  all(): OutRecord[] {
    return [...this.records.values()];
  }

  pending(): OutRecord[] {
    return this.all().filter((r) => r.rev > r.delivered_rev);
  }

  /**
   * Sets what the message `key` should say. Returns false when it already says exactly that.
   * Texts over Telegram's limit are shortened with a pointer to the web page.
   */
  async upsert(key: string, content: { chatId: string; threadId?: number; text: string; buttons: Buttons; meta: Meta; urgent?: boolean }): Promise<boolean> {
    const text = shorten(content.text, this.opts.pageUrl);
    const old = this.records.get(key);
    const meta = content.meta;
    if (old && old.text === text && JSON.stringify(old.buttons) === JSON.stringify(content.buttons) && JSON.stringify(old.meta) === JSON.stringify(meta)) {
      return false;
    }
    const at = new Date(this.now()).toISOString();
    const contentChanged = !old || old.text !== text || JSON.stringify(old.buttons) !== JSON.stringify(content.buttons);
    const rec: OutRecord = old
      ? {
          ...old,
          text,
          buttons: content.buttons,
          meta,
          rev: contentChanged ? old.rev + 1 : old.rev,
          queued_at: old.rev === old.delivered_rev && contentChanged ? at : old.queued_at,
          // New words get a new try at once.
          ...(contentChanged ? { retry_at: null } : {}),
        }
      : {
          version: OUTBOX_VERSION,
          key,
          chat_id: content.chatId,
          thread_id: content.threadId ?? this.opts.threadId ?? null,
          text,
          buttons: content.buttons,
          rev: 1,
          delivered_rev: 0,
          queued_at: at,
          message_id: null,
          delivered_at: null,
          attempts: 0,
          last_error: null,
          ref: refFor(key),
          meta,
        };
    await this.save(rec);
    if (content.urgent && contentChanged) this.urgent.add(key);
    if (contentChanged) this.kick();
    return true;
  }

  /** Changes only the bookkeeping of a record (no new delivery). */
  async setMeta<K extends Meta['kind']>(key: string, kind: K, patch: Partial<MetaOf<K>>): Promise<void> {
    const old = this.records.get(key);
    if (old && old.meta.kind === kind) await this.save({ ...old, meta: MetaSchema.parse({ ...old.meta, ...patch }) });
  }

  async remove(key: string): Promise<void> {
    const r = this.records.get(key);
    if (!r) return;
    this.records.delete(key);
    this.urgent.delete(key);
    await this.files.remove(key);
  }

  private index(rec: OutRecord): void {
    this.records.set(rec.key, rec);
    if (rec.message_id !== null) this.byMessageMap.set(`${rec.chat_id}/${rec.message_id}`, rec.key);
  }

  /** Memory first, then the file (in the order of the saves: OutboxFiles.write). */
  private async save(rec: OutRecord): Promise<void> {
    this.index(rec);
    await this.files.write(rec);
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

  /** Resolves once nothing is waiting to be delivered (for tests and shutdown). */
  whenIdle(): Promise<void> {
    if (this.pending().length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Which lane the next delivery of a record is in (rate-window.ts). */
  lane(r: OutRecord): Lane {
    if (this.urgent.has(r.key)) return 1;
    const kind = r.meta.kind;
    if (kind === 'notice' || kind === 'digest') return 4;
    if (r.message_id !== null) return 3;
    return kind === 'action' || kind === 'group' ? 2 : 1;
  }

  /**
   * When a record itself may go, whatever the chat's window: after its `retry_at`, and — for an
   * edit that answers no press — EDIT_MERGE_MS after its last delivery, so that quick successive
   * changes of one message ("completed", then "verified" a moment later) are one edit.
   */
  private ownReadyAt(r: OutRecord): number {
    const retry = r.retry_at ? Date.parse(r.retry_at) : 0;
    const merge = r.message_id !== null && r.delivered_at && !this.urgent.has(r.key) ? Date.parse(r.delivered_at) + EDIT_MERGE_MS : 0;
    return Math.max(retry, merge);
  }

  private readyAt(r: OutRecord, now: number): number {
    return this.pace.readyAt(r.chat_id, this.lane(r), now);
  }

  /** Most urgent lane first, then the oldest change. */
  private order(): OutRecord[] {
    const lane = new Map<string, Lane>();
    const waiting = this.pending();
    for (const r of waiting) lane.set(r.key, this.lane(r));
    return waiting.sort((a, b) => lane.get(a.key)! - lane.get(b.key)! || (a.queued_at < b.queued_at ? -1 : a.queued_at > b.queued_at ? 1 : a.key < b.key ? -1 : 1));
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
      const waiting = this.order();
      if (waiting.length === 0) {
        for (const w of this.idleWaiters.splice(0)) w();
        await this.park(new Promise<void>((resolve) => (this.wake = resolve)));
        continue;
      }
      const now = this.now();
      // The first in order per chat; a chat that must wait does not hold up another chat.
      const seen = new Set<string>();
      let next: OutRecord | undefined;
      let soonest = Infinity;
      for (const r of waiting) {
        // A record's own wait (a retry later, or an edit merged with the next ones) holds up only it.
        const own = this.ownReadyAt(r);
        if (own > now) {
          soonest = Math.min(soonest, own);
          continue;
        }
        if (seen.has(r.chat_id)) continue;
        seen.add(r.chat_id);
        const at = this.readyAt(r, now);
        if (at <= now) {
          next = r;
          break;
        }
        soonest = Math.min(soonest, at);
      }
      if (!next) {
        const woken = new AbortController();
        this.wake = () => woken.abort();
        // Paused for good (401): only a wake (a stop) ends the wait.
        if (!Number.isFinite(soonest)) await this.park(new Promise<void>((resolve) => woken.signal.addEventListener('abort', () => resolve(), { once: true })));
        else await this.park(this.clock.sleep(Math.max(1, soonest - now), woken.signal));
        continue;
      }
      await this.deliver(next);
    }
  }

  private async deliver(r: OutRecord): Promise<void> {
    const rev = r.rev;
    const { transport } = this.opts;
    this.pace.called(r.chat_id, this.now());
    const plain = r.plain === true;
    const marked = r.resent ? `${plain ? '' : '<i>'}↻ re-sent after a restart${plain ? '' : '</i>'}\n${r.text}` : r.text;
    const text = plain ? plainText(marked) : marked;
    try {
      let messageId = r.message_id;
      // The buttons' references are on disk before any message carries them.
      const ready = this.opts.beforeSend?.() ?? Promise.resolve();
      if (messageId === null) {
        // The intent is on disk before the call, the message id as soon as it returns.
        await Promise.all([this.save({ ...(this.records.get(r.key) ?? r), in_flight_since: new Date(this.now()).toISOString() }), ready]);
        messageId = (await transport.sendMessage(r.chat_id, text, r.buttons, r.thread_id ?? undefined, plain)).message_id;
        this.stats.sent++;
      } else {
        await ready;
        await transport.editMessageText(r.chat_id, messageId, text, r.buttons, plain);
        this.stats.edited++;
      }
      this.pace.worked(r.chat_id);
      if (this.records.get(r.key)?.rev === rev) this.urgent.delete(r.key);
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

  /** What a refused or failed call means (docs/operator/telegram.md); nothing is dropped silently. */
  private async failed(r: OutRecord, rev: number, err: unknown): Promise<void> {
    const { log } = this.opts;
    const e = err as ApiErrorLike & Error;
    const code = e.error_code;
    const desc = e.description ?? e.message ?? String(err);
    const method = r.message_id === null ? 'sendMessage' : 'editMessageText';
    // Telegram answered: the message was not sent. (A lost connection leaves the intent in place.)
    const inFlight = this.records.get(r.key);
    if (typeof code === 'number' && inFlight?.in_flight_since) await this.save({ ...inFlight, in_flight_since: null });
    if (code === 429) {
      const after = (e.parameters?.retry_after ?? 1) * 1000;
      this.pace.pauseUntil(r.chat_id, this.now() + after);
      this.stats.rate_limited++;
      this.stats.retries++;
      log.warn({ key: r.key, retry_after_s: after / 1000 }, 'Telegram asked to slow down (429); waiting as told');
      return;
    }
    if (code === 400 && /message is not modified/i.test(desc)) return void (await this.delivered(r.key, rev, r.message_id, null));
    if (code === 400 && /message to edit not found|message can't be edited|MESSAGE_ID_INVALID/i.test(desc)) {
      // Deleted in the chat, or too old to edit: send it as a new message.
      const cur = this.records.get(r.key);
      if (cur) await this.save({ ...cur, message_id: null });
      return;
    }
    // 403, or a chat that is not there any more (deleted, migrated, the bot removed): kept and
    // probed, exactly like a blocked bot, and delivered when it works again.
    if (code === 403 || (code === 400 && /chat not found|group chat was upgraded|have no rights to send/i.test(desc))) return this.unavailable(r, desc);
    if (code === 401) {
      if (this.healthState.state !== 'unauthorized') log.error('Telegram answered 401 Unauthorized: TELEGRAM_BOT_TOKEN was revoked; messages stay queued until a restart with a new token from @BotFather');
      this.healthState = { state: 'unauthorized', reason: desc, since: new Date(this.now()).toISOString() };
      this.pace.pauseUntil(r.chat_id, Number.POSITIVE_INFINITY);
      return;
    }
    if (typeof code === 'number' && code >= 400 && code < 500) {
      this.stats.failures++;
      const cur = this.records.get(r.key);
      if (cur && !cur.plain) {
        // Telegram refused our HTML: a bug on our side. Say exactly what, and send the same words as plain text.
        log.error({ method, key: r.key, code, reason: desc }, `Telegram refused ${method} (${code}: ${desc}); sending it again as plain text`);
        await this.save({ ...cur, plain: true, last_error: `${code}: ${desc}`.slice(0, 300) });
        return;
      }
      if (cur && !cur.meta.final && (cur.meta.kind === 'action' || cur.meta.kind === 'group' || cur.meta.kind === 'list')) {
        // A message about an open decision is never given up: tried again later, said each time.
        const attempts = cur.attempts + 1;
        const wait = backoffDelay(attempts, RETRY_POLICIES.outboxRefused);
        log.error({ method, key: r.key, code, reason: desc, attempts, retry_in_s: wait / 1000 }, `Telegram refused ${method} even as plain text (${code}: ${desc}); it is about an open decision, so it is kept and tried again in ${Math.round(wait / 1000)} s (attempt ${attempts})`);
        await this.save({ ...cur, attempts, last_error: `${code}: ${desc}`.slice(0, 300), retry_at: new Date(this.now() + wait).toISOString() });
        return;
      }
      log.error({ method, key: r.key, code, reason: desc }, `Telegram refused ${method} even as plain text (${code}: ${desc}); this message is given up`);
      return void (await this.delivered(r.key, rev, r.message_id, `${code}: ${desc}`));
    }
    // 5xx or network: Telegram (or the way there) is down. Back off, keep everything.
    const backoff = this.pace.backOff(r.chat_id, this.now(), RETRY_POLICIES.outboxSend);
    this.stats.retries++;
    const cur = this.records.get(r.key);
    if (cur) await this.save({ ...cur, attempts: cur.attempts + 1, last_error: desc.slice(0, 300) });
    log.warn({ key: r.key, code, error: desc, retry_in_ms: backoff }, 'sending to Telegram failed; will retry');
  }

  /** 403: blocked by the user, kicked from the group, or the chat is gone. Keep everything; probe with backoff. */
  private unavailable(r: OutRecord, desc: string): void {
    this.pace.backOff(r.chat_id, this.now(), RETRY_POLICIES.outboxProbe);
    if (this.healthState.state !== 'unavailable') {
      this.opts.log.error({ chat: r.chat_id, reason: desc }, `the Telegram chat is unavailable (${desc}): add the bot to the chat again or unblock it; every message is kept and sent when it is back`);
      this.healthState = { state: 'unavailable', reason: desc, since: new Date(this.now()).toISOString() };
    }
  }

  private async delivered(key: string, rev: number, messageId: number | null, error: string | null): Promise<void> {
    const cur = this.records.get(key);
    if (!cur) return;
    await this.save({
      ...cur,
      message_id: messageId,
      in_flight_since: null,
      delivered_rev: Math.max(cur.delivered_rev, rev),
      delivered_at: new Date(this.now()).toISOString(),
      attempts: 0,
      last_error: error,
      retry_at: null,
    });
  }
}
