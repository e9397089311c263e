// The outbox's queue: every message the bot shows, as what it *should* say (a record under
// state/telegram/outbox/, store/outbox-files.ts), which of them are waiting for a delivery, and in
// which order they go (lane, then the oldest change). The worker that makes Telegram match is
// outbox.ts; each chat's pace is chat-pace.ts.
import type { Logger } from '../log.js';
import { MetaSchema, OUTBOX_VERSION, retiredRecord, type Meta, type MetaOf, type OutboxRecords, type OutRecord } from '../store/outbox-files.js';
import type { Lane } from './rate-window.js';
import { shorten, type Buttons } from './render.js';
import { refFor } from './refs.js';

export interface QueueOptions {
  files: OutboxRecords;
  log: Logger;
  now: () => number;
  /** The forum topic new messages go to unless told otherwise (TELEGRAM_THREAD_ID). */
  threadId?: number;
  pageUrl?: string;
  /** Told when a record has new words to deliver. */
  changed: () => void;
}

/** `quiet`: it only informs, and is sent without a sound (disable_notification). */
export type Content = { chatId: string; threadId?: number; text: string; buttons: Buttons; meta: Meta; urgent?: boolean; quiet?: boolean };

export class OutboxQueue {
  private records = new Map<string, OutRecord>();
  private byMessageMap = new Map<string, string>();
  /** Records whose next delivery answers a press or a command (lane 1), until it is made. */
  private urgent = new Set<string>();

  constructor(private readonly o: QueueOptions) {}

  async load(): Promise<void> {
    for (let rec of await this.o.files.load()) {
      if (rec.in_flight_since && rec.message_id === null) {
        // The Bot API cannot tell whether that call landed: send it again, marked, so a duplicate
        // is visible and small; its buttons and later edits belong to the new message only.
        rec = { ...rec, in_flight_since: null, resent: true };
        await this.o.files.write(rec);
        this.o.log.warn({ key: rec.key }, 'a message was being sent when the process stopped; sending it again, marked "re-sent after a restart"');
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

  isUrgent(key: string): boolean {
    return this.urgent.has(key);
  }

  /** Revision `rev` of `key` went out: it answers no press any more, unless it changed since. */
  answered(key: string, rev: number): void {
    if (this.records.get(key)?.rev === rev) this.urgent.delete(key);
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
  async upsert(key: string, content: Content): Promise<boolean> {
    const text = shorten(content.text, this.o.pageUrl);
    const old = this.records.get(key);
    const meta = content.meta;
    if (old && old.text === text && JSON.stringify(old.buttons) === JSON.stringify(content.buttons) && JSON.stringify(old.meta) === JSON.stringify(meta)) {
      return false;
    }
    const at = new Date(this.o.now()).toISOString();
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
          thread_id: content.threadId ?? this.o.threadId ?? null,
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
          ...(content.quiet ? { quiet: true } : {}),
        };
    await this.save(rec);
    if (content.urgent && contentChanged) this.urgent.add(key);
    if (contentChanged) this.o.changed();
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
    if (r.message_id !== null) this.byMessageMap.delete(`${r.chat_id}/${r.message_id}`);
    await this.o.files.remove(key);
  }

  /** Removes what retention retires (outbox-files.ts retiredRecord); returns their keys. */
  async prune(beforeIso: string, removedKeys: ReadonlySet<string>): Promise<string[]> {
    const gone = [...this.records.values()].filter((r) => retiredRecord(r, beforeIso, removedKeys)).map((r) => r.key);
    for (const key of gone) await this.remove(key);
    return gone;
  }

  /** Memory first, then the file (in the order of the saves: OutboxFiles.write). */
  async save(rec: OutRecord): Promise<void> {
    // Written in this version's shape (a record read as version 1 is one of it from now on).
    const current: OutRecord = rec.version === OUTBOX_VERSION ? rec : { ...rec, version: OUTBOX_VERSION };
    this.index(current);
    await this.o.files.write(current);
  }

  /** Changes the current revision of `key` (whatever it is by now) and saves it. */
  async patch(key: string, change: (cur: OutRecord) => Partial<OutRecord>): Promise<void> {
    const cur = this.records.get(key);
    if (cur) await this.save({ ...cur, ...change(cur) });
  }

  private index(rec: OutRecord): void {
    this.records.set(rec.key, rec);
    if (rec.message_id !== null) this.byMessageMap.set(`${rec.chat_id}/${rec.message_id}`, rec.key);
  }

  /** Which lane the next delivery of a record is in (rate-window.ts). */
  lane(r: OutRecord): Lane {
    if (this.urgent.has(r.key)) return 1;
    const kind = r.meta.kind;
    if (kind === 'notice' || kind === 'digest') return 4;
    if (r.message_id !== null) return 3;
    return kind === 'action' || kind === 'group' ? 2 : 1;
  }

  /** What waits for a delivery: most urgent lane first, then the oldest change. */
  order(): OutRecord[] {
    const lane = new Map<string, Lane>();
    const waiting = this.pending();
    for (const r of waiting) lane.set(r.key, this.lane(r));
    return waiting.sort((a, b) => lane.get(a.key)! - lane.get(b.key)! || (a.queued_at < b.queued_at ? -1 : a.queued_at > b.queued_at ? 1 : a.key < b.key ? -1 : 1));
  }
}
