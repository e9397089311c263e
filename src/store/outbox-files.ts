// state/telegram/outbox/: one file per message the bot shows, holding what it should say
// (docs/design/telegram.md). Written atomically, the writes of one record in the order they were
// made; read back through the record schema at start (a file that fails it is skipped and said).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { readJsonFile, removeStaleTemps, writeJsonAtomic } from './atomic.js';

/** 2: buttons may be copy_text buttons (no callback data) and carry a style; 1 is read as it is. */
export const OUTBOX_VERSION = 2;

/** What a message is about: each kind of message keeps what it needs to be rendered again. */
export const MetaSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('action'),
    id: z.string(),
    instance: z.string(),
    final: z.boolean(),
    /** A guarded Approve was pressed once: the message shows Confirm / Back. */
    confirming: z.boolean().optional(),
  }),
  z.object({
    kind: z.literal('group'),
    node: z.string(),
    /** Action keys (`action:<id>@<instance>`), in the order they became pending. */
    members: z.array(z.string()),
    /** When the first member became pending: later ones join while the burst window is open. */
    first_at: z.string().optional(),
    final: z.boolean(),
  }),
  z.object({ kind: z.literal('notice'), notice: z.string(), node: z.string(), final: z.boolean() }),
  z.object({ kind: z.literal('recover'), final: z.boolean() }),
  z.object({
    kind: z.literal('list'),
    title: z.string(),
    members: z.array(z.string()),
    /** The counts and the oldest few, or one page of ten. */
    view: z.union([z.literal('summary'), z.number().int().min(0)]),
    /** The reference of a guarded action whose Approve was pressed in this list. */
    confirming: z.string().nullable(),
    /** A newer list of the same title was sent: this one keeps its text and loses its buttons. */
    superseded: z.boolean(),
    final: z.boolean(),
  }),
  z.object({ kind: z.literal('reply'), final: z.boolean() }),
  z.object({ kind: z.literal('digest'), final: z.boolean() }),
]);
export type Meta = z.infer<typeof MetaSchema>;
export type MetaOf<K extends Meta['kind']> = Extract<Meta, { kind: K }>;

export const RecordSchema = z.object({
  version: z.union([z.literal(1), z.literal(OUTBOX_VERSION)]),
  key: z.string(),
  chat_id: z.string(),
  /** The forum topic of a supergroup the message goes to (TELEGRAM_THREAD_ID, or where a command was sent). */
  thread_id: z.number().int().nullable().optional(),
  text: z.string(),
  buttons: z.array(z.array(z.union([z.object({ text: z.string(), data: z.string(), style: z.enum(['success', 'danger', 'primary']).optional() }), z.object({ text: z.string(), copy: z.string() })]))),
  rev: z.number().int(),
  delivered_rev: z.number().int(),
  queued_at: z.string(),
  message_id: z.number().int().nullable(),
  delivered_at: z.string().nullable(),
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  /** Sent without parse_mode after Telegram refused its HTML (a bug on our side, said in the log). */
  plain: z.boolean().optional(),
  /** Only informs: sent with disable_notification (no sound, no vibration). */
  quiet: z.boolean().optional(),
  /**
   * Set (durably) just before a sendMessage and cleared with the message id it returns: found set
   * at start, the process died while Telegram may or may not have received it.
   */
  in_flight_since: z.string().nullable().optional(),
  /** Sent again after a restart that interrupted its first send: the text says so. */
  resent: z.boolean().optional(),
  /**
   * Not before this time: a message about an open decision that Telegram refused even as plain
   * text is never given up, only tried again later (with backoff).
   */
  retry_at: z.string().nullable().optional(),
  /** Short opaque id used in this message's callback data (refs.ts). */
  ref: z.string(),
  meta: MetaSchema,
});
export type OutRecord = z.infer<typeof RecordSchema>;

/**
 * A record retention removes (ACTIONS_RETENTION_DAYS): one about a removed action, or a final,
 * delivered message last changed before `beforeIso` — nothing will edit it again.
 */
export function retiredRecord(rec: OutRecord, beforeIso: string, removedKeys: ReadonlySet<string>): boolean {
  return removedKeys.has(rec.key) || (rec.meta.final && rec.delivered_rev === rec.rev && rec.queued_at < beforeIso);
}

/** Where the outbox's records live: state/telegram/outbox/ (OutboxFiles), or NATS KV (nats/outbox-kv.ts). */
export interface OutboxRecords {
  /** Every record held; one that fails the schema is skipped and said. */
  load(): Promise<OutRecord[]>;
  /** One record's writes land in the order they were asked for. */
  write(rec: OutRecord): Promise<void>;
  remove(key: string): Promise<void>;
}

/** The writes of each key one after another: two under way at once could land in the other order. */
export class KeyedOrder {
  private readonly writes = new Map<string, Promise<void>>();

  async run(key: string, io: () => Promise<void>): Promise<void> {
    const next = (this.writes.get(key) ?? Promise.resolve()).catch(() => {}).then(io);
    this.writes.set(key, next);
    try {
      await next;
    } finally {
      if (this.writes.get(key) === next) this.writes.delete(key);
    }
  }
}

/** A record's name: a hash of its key (a file name, a KV key). */
export function recordName(key: string): string {
  return createHash('sha1').update(key).digest('hex').slice(0, 20);
}

export class OutboxFiles implements OutboxRecords {
  /** The writes of each record's file, one after another (see write). */
  private readonly order = new KeyedOrder();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    /** Writes one record's file (default: atomically, with fsync); tests slow it down. */
    private readonly writeRecord: (file: string, rec: OutRecord) => Promise<void> = (file, rec) => writeJsonAtomic(file, rec),
  ) {}

  private file(key: string): string {
    return path.join(this.dir, `${recordName(key)}.json`);
  }

  /** Every record on disk (temp files a crash left removed first); a file that fails the schema is skipped and said. */
  async load(): Promise<OutRecord[]> {
    await fs.mkdir(this.dir, { recursive: true });
    await removeStaleTemps(this.dir);
    const out: OutRecord[] = [];
    for (const name of await fs.readdir(this.dir)) {
      if (name.startsWith('.') || !name.endsWith('.json')) continue;
      const raw = await readJsonFile(path.join(this.dir, name)).catch(() => undefined);
      const parsed = RecordSchema.safeParse(raw);
      if (!parsed.success) {
        this.log.warn({ file: name }, 'skipped an unreadable outbox record');
        continue;
      }
      out.push(parsed.data);
    }
    return out;
  }

  /**
   * The writes of one record land in the order they were asked for: two atomic writes of one file
   * under way at once (a notifier's upsert while a send returns) could otherwise be renamed in the
   * other order, leaving on disk an older record than in memory — one that still says "being sent,
   * no message id", which the next start sends again as a duplicate.
   */
  write(rec: OutRecord): Promise<void> {
    return this.order.run(rec.key, () => this.writeRecord(this.file(rec.key), rec));
  }

  remove(key: string): Promise<void> {
    return this.order.run(key, () => fs.rm(this.file(key), { force: true }));
  }
}
