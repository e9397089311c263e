// Notices — what the supervisor says of a node or a service beside actions (silent, flapping, in
// maintenance …) — kept one file per notice under state/notices/, or, with NATS_URL, as one
// document `notices` in HOMELAB_STATE (doc-store.ts): a standby's page then shows the leader's
// notices, and a new leader goes on with them instead of opening them again in the chat
// (docs/design/leader.md). Every change reads them, changes them and writes them back (on KV a
// compare-and-set on the revision read, again from the read when another writer came first).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonAtomic } from './atomic.js';
import { docValue, updateDoc, type Doc, type DocStore } from './doc-store.js';

const VERSION = 1;

export const StoredNoticeSchema = z.object({
  version: z.literal(VERSION),
  key: z.string(),
  kind: z.enum(['node_silent', 'engine_unreachable', 'desired_invalid', 'bulk_removal_held', 'flapping', 'image_update_available', 'agents_running', 'maintenance', 'maintenance_ended']),
  node: z.string(),
  service: z.string().optional(),
  message: z.string(),
  revision: z.string(),
  /** Bumped whenever the message says something new: a sender re-sends or edits on a bump. */
  seq: z.number().int(),
  state: z.enum(['open', 'closed']),
  opened_at: z.string(),
  updated_at: z.string(),
  closed_at: z.string().optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type StoredNotice = z.infer<typeof StoredNoticeSchema>;

/** What a change writes (whole notices, by key) and removes (keys), and what it returns. */
export interface NoticeChange<R> {
  put?: StoredNotice[];
  remove?: string[];
  result: R;
}

export interface NoticeStore {
  /** Every notice, oldest opened first. */
  list(): Promise<StoredNotice[]>;
  /** `fn` gets the notices as they are (by key) and says what to change. */
  change<R>(fn: (current: ReadonlyMap<string, StoredNotice>) => NoticeChange<R>): Promise<R>;
}

const byOpened = (a: StoredNotice, b: StoredNotice): number => (a.opened_at < b.opened_at ? -1 : a.opened_at > b.opened_at ? 1 : 0);

/** state/notices/<key>.json: one process (the control plane) writes them. */
export class FileNotices implements NoticeStore {
  constructor(private readonly dir: string) {}

  async list(): Promise<StoredNotice[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const out: StoredNotice[] = [];
    for (const n of names) {
      if (n.startsWith('.') || !n.endsWith('.json')) continue;
      const parsed = StoredNoticeSchema.safeParse(await readJsonFile(path.join(this.dir, n)).catch(() => undefined));
      if (parsed.success) out.push(parsed.data);
    }
    return out.sort(byOpened);
  }

  async change<R>(fn: (current: ReadonlyMap<string, StoredNotice>) => NoticeChange<R>): Promise<R> {
    const { put = [], remove = [], result } = fn(new Map((await this.list()).map((n) => [n.key, n])));
    for (const n of put) await writeJsonAtomic(path.join(this.dir, `${n.key}.json`), n);
    for (const key of remove) await fs.rm(path.join(this.dir, `${key}.json`), { force: true });
    return result;
  }
}

const NoticesDoc = z.object({ version: z.literal(VERSION), notices: z.array(StoredNoticeSchema) });

/** All notices in one state document (NATS KV): one read per pass, one compare-and-set per change. */
export class DocNotices implements NoticeStore {
  constructor(private readonly docs: DocStore) {}

  private parse(d: Doc): StoredNotice[] {
    return docValue(d, NoticesDoc)?.notices ?? [];
  }

  async list(): Promise<StoredNotice[]> {
    return this.parse(await this.docs.read('notices')).sort(byOpened);
  }

  change<R>(fn: (current: ReadonlyMap<string, StoredNotice>) => NoticeChange<R>): Promise<R> {
    return updateDoc(this.docs, 'notices', (d) => {
      const current = new Map(this.parse(d).map((n) => [n.key, n]));
      const { put = [], remove = [], result } = fn(current);
      if (put.length === 0 && remove.length === 0) return { result };
      for (const n of put) current.set(n.key, n);
      for (const key of remove) current.delete(key);
      return { value: { version: VERSION, notices: [...current.values()].sort(byOpened) }, result };
    });
  }
}
