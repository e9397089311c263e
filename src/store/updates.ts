// What the update checks found (world/updates.json) and the versions an operator skipped or a
// rollback ruled out (state/update-skips.json). docs/design/updates.md. Both files are written
// whole and atomically; each write merges into what is on disk, so a `control-plane updates check`
// beside a running control plane adds to the file instead of replacing it.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Layout } from './paths.js';
import { z } from 'zod';
import { SkipSchema, UpdateEntrySchema, type Skip, type Skips, type UpdateEntry, type Updates } from '../domain/updates.js';
import { fileStamp, readJsonFile, writeJsonAtomic } from './atomic.js';

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

  constructor(files: Pick<Layout, 'worldUpdates' | 'updateSkips'>) {
    this.updatesFile = files.worldUpdates;
    this.skipsFile = files.updateSkips;
  }

  /** The file's entries; one that does not parse is left out (never the whole file). Cached by stamp. */
  updates(): Updates {
    return (this.cache = readEntries(this.updatesFile, UpdateEntrySchema, this.cache)).value;
  }

  skips(): Skips {
    return (this.skipCache = readEntries(this.skipsFile, this.skipList, this.skipCache)).value;
  }

  /** Writes these entries over the ones on disk (others stay). */
  async save(entries: readonly UpdateEntry[]): Promise<void> {
    await this.serial(async () => {
      const current = { ...(await this.fresh(this.updatesFile)) } as Record<string, unknown>;
      for (const e of entries) current[`${e.node}/${e.service}`] = e;
      await writeJsonAtomic(this.updatesFile, current);
      this.cache = undefined;
    });
  }

  /** Drops entries of services that are no longer checked. */
  async keepOnly(keys: ReadonlySet<string>): Promise<void> {
    await this.serial(async () => {
      const current = (await this.fresh(this.updatesFile)) as Record<string, unknown>;
      const next = Object.fromEntries(Object.entries(current).filter(([k]) => keys.has(k)));
      if (Object.keys(next).length === Object.keys(current).length) return;
      await writeJsonAtomic(this.updatesFile, next);
      this.cache = undefined;
    });
  }

  /** Remembers a digest not to propose again for `node/service`. */
  async skip(key: string, entry: Skip): Promise<void> {
    await this.serial(async () => {
      const current = (await this.fresh(this.skipsFile)) as Record<string, Skip[]>;
      const list = (Array.isArray(current[key]) ? current[key] : []).filter((s) => s.digest !== entry.digest);
      list.push(entry);
      current[key] = list.slice(-MAX_SKIPS);
      await writeJsonAtomic(this.skipsFile, current);
      this.skipCache = undefined;
    });
  }

  private async fresh(file: string): Promise<Record<string, unknown>> {
    const v = await readJsonFile(file).catch(() => undefined);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
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
  const value: Record<string, T> = {};
  const raw = UpdatesFile.safeParse(readSync(file));
  if (raw.success) {
    for (const [k, v] of Object.entries(raw.data)) {
      const e = schema.safeParse(v);
      if (e.success) value[k] = e.data;
    }
  }
  return { key, value };
}

function readSync(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
