// What the update checks found (world/updates.json) and the versions an operator skipped or a
// rollback ruled out (state/update-skips.json). docs/design/updates.md. Both files are written
// whole and atomically; each write merges into what is on disk, so a `control-plane updates check`
// beside a running control plane adds to the file instead of replacing it. With NATS_URL they are
// the documents `updates` and `update-skips` of HOMELAB_STATE (doc-store.ts; each write a
// compare-and-set on the revision read), held in memory between two `refresh()`es, so a new leader
// neither proposes a version skipped on the old one's chat nor cancels on a stale check.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Layout } from './paths.js';
import { z } from 'zod';
import { SkipSchema, UpdateEntrySchema, type Skip, type Skips, type UpdateEntry, type Updates } from '../domain/updates.js';
import { fileStamp, readJsonFile, writeJsonAtomic } from './atomic.js';
import { updateDoc, type DocName, type DocStore } from './doc-store.js';

export type { ImageCheck, Skip, Skips, UpdateEntry, Updates } from '../domain/updates.js';

/** At most this many skipped digests are remembered per service (the oldest go first). */
const MAX_SKIPS = 20;

const UpdatesFile = z.record(z.string(), z.unknown());

export class UpdatesStore {
  readonly updatesFile: string;
  readonly skipsFile: string;
  private cache: { key: string; value: Updates } | undefined;
  private skipCache: { key: string; value: Skips } | undefined;
  private readonly skipList = z.array(SkipSchema);
  private writing: Promise<unknown> = Promise.resolve();

  /** With NATS: the documents as last read or written. */
  private held: { updates: Updates; skips: Skips } = { updates: {}, skips: {} };

  constructor(
    files: Pick<Layout, 'worldUpdates' | 'updateSkips'>,
    private readonly docs?: DocStore,
  ) {
    this.updatesFile = files.worldUpdates;
    this.skipsFile = files.updateSkips;
  }

  /** The file's entries; one that does not parse is left out (never the whole file). Cached by stamp. */
  updates(): Updates {
    if (this.docs) return this.held.updates;
    return (this.cache = readEntries(this.updatesFile, UpdateEntrySchema, this.cache)).value;
  }

  skips(): Skips {
    if (this.docs) return this.held.skips;
    return (this.skipCache = readEntries(this.skipsFile, this.skipList, this.skipCache)).value;
  }

  /** With NATS: both documents read again (the files are read when they change). */
  async refresh(): Promise<void> {
    if (!this.docs) return;
    const [u, s] = [await this.docs.read('updates'), await this.docs.read('update-skips')];
    this.held = { updates: entriesOf(u.value, UpdateEntrySchema), skips: entriesOf(s.value, this.skipList) };
  }

  /** Writes these entries over the ones on disk (others stay). */
  async save(entries: readonly UpdateEntry[]): Promise<void> {
    await this.change('updates', (current) => {
      const next = { ...current };
      for (const e of entries) next[`${e.node}/${e.service}`] = e;
      return next;
    });
  }

  /** Drops entries of services that are no longer checked. */
  async keepOnly(keys: ReadonlySet<string>): Promise<void> {
    await this.change('updates', (current) => {
      const next = Object.fromEntries(Object.entries(current).filter(([k]) => keys.has(k)));
      return Object.keys(next).length === Object.keys(current).length ? undefined : next;
    });
  }

  /** Remembers a digest not to propose again for `node/service`. */
  async skip(key: string, entry: Skip): Promise<void> {
    await this.change('update-skips', (current) => {
      const list = (Array.isArray(current[key]) ? (current[key] as Skip[]) : []).filter((s) => s.digest !== entry.digest);
      list.push(entry);
      return { ...current, [key]: list.slice(-MAX_SKIPS) };
    });
  }

  /** Read, changed by `fn` (undefined: nothing to write), written: the file, or the document in KV. */
  private async change(doc: Extract<DocName, 'updates' | 'update-skips'>, fn: (current: Record<string, unknown>) => Record<string, unknown> | undefined): Promise<void> {
    if (this.docs) {
      const written = await updateDoc(this.docs, doc, (d) => {
        const next = fn(asRecord(d.value));
        return { value: next, result: next };
      });
      if (written) this.held = doc === 'updates' ? { ...this.held, updates: entriesOf(written, UpdateEntrySchema) } : { ...this.held, skips: entriesOf(written, this.skipList) };
      return;
    }
    const file = doc === 'updates' ? this.updatesFile : this.skipsFile;
    await this.serial(async () => {
      const next = fn(asRecord(await readJsonFile(file).catch(() => undefined)));
      if (!next) return;
      await writeJsonAtomic(file, next);
      if (doc === 'updates') this.cache = undefined;
      else this.skipCache = undefined;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const write = () => {
      for (const f of [this.updatesFile, this.skipsFile]) mkdirSync(path.dirname(f), { recursive: true });
      return fn();
    };
    const run = this.writing.then(write, write);
    this.writing = run.catch(() => {});
    return run;
  }
}

/** `file`'s record, each entry checked by `schema`, read again only when the file's stamp changed. */
function readEntries<T>(file: string, schema: z.ZodType<T>, cached: { key: string; value: Record<string, T> } | undefined): { key: string; value: Record<string, T> } {
  const key = fileStamp(file);
  if (cached?.key === key) return cached;
  return { key, value: entriesOf(readSync(file), schema) };
}

/** A record's entries that `schema` accepts (one that does not is left out, never the whole record). */
function entriesOf<T>(raw: unknown, schema: z.ZodType<T>): Record<string, T> {
  const value: Record<string, T> = {};
  const r = UpdatesFile.safeParse(raw);
  if (r.success) {
    for (const [k, v] of Object.entries(r.data)) {
      const e = schema.safeParse(v);
      if (e.success) value[k] = e.data;
    }
  }
  return value;
}

function asRecord(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function readSync(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
