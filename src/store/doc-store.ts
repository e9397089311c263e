// Small state documents the supervisor and the operator's commands read and write whole — silences,
// maintenance, cooldowns, heal budgets — by name, with a revision: in files under state/ (one
// process writes them; the revision is not checked), or in JetStream KV with NATS_URL
// (nats/docs-kv.ts), where a write is a compare-and-set on the revision read, so two control
// planes or a CLI on another host never lose each other's change (docs/design/leader.md).
import type { z } from 'zod';
import { readJsonFile, writeJsonAtomic } from './atomic.js';

/**
 * The documents. Only the first four are FileDocs' files; the others are documents only in NATS KV
 * (state/ keeps a file per notice and per confirmation, and its own files of interrupted
 * operations, of the last digest, of update checks and of the chat's button references:
 * notice-store.ts, supervisor-state.ts, interrupted.ts, digest-mark.ts, updates.ts, bot/refs.ts).
 */
export type DocName = 'silences' | 'maintenance' | 'cooldowns' | 'heal-budgets' | 'notices' | 'confirmations' | 'interrupted' | 'digest' | 'updates' | 'update-skips' | 'refs';

export interface Doc {
  /** The parsed JSON, or undefined when there is none yet. */
  value: unknown;
  /** What a write compares against (0: none yet). */
  rev: number;
  /** Where it is, for errors (a file's path, a bucket's key). */
  where: string;
}

export interface DocStore {
  read(name: DocName): Promise<Doc>;
  /**
   * Writes `value` unless the document changed since `rev` was read: the new revision, or
   * undefined when it changed. Without `rev` (nothing was read first) it is written whatever is there.
   */
  write(name: DocName, value: unknown, rev?: number): Promise<number | undefined>;
}

/**
 * Each file's version in this process: a write over a version another write of this process moved
 * (two snoozes tapped at once) is refused and read again, as KV refuses it. Another process's
 * write (the CLI's) is not seen by it: only KV compares across processes.
 */
const fileVersions = new Map<string, number>();
/** A write under way per file: a read waits for it, so it never reads the old text at the new version. */
const fileWrites = new Map<string, Promise<void>>();

/** The files of state/ (`silences.json`, …). */
export class FileDocs implements DocStore {
  constructor(private readonly files: Partial<Record<DocName, string>>) {}

  private file(name: DocName): string {
    const f = this.files[name];
    if (!f) throw new Error(`no file for the state document ${name}`);
    return f;
  }

  async read(name: DocName): Promise<Doc> {
    const where = this.file(name);
    for (let w = fileWrites.get(where); w; w = fileWrites.get(where)) await w.catch(() => {});
    const rev = fileVersions.get(where) ?? 1;
    return { value: await readJsonFile(where), rev, where };
  }

  async write(name: DocName, value: unknown, rev?: number): Promise<number | undefined> {
    const file = this.file(name);
    const current = fileVersions.get(file) ?? 1;
    if (rev !== undefined && current !== rev) return undefined;
    fileVersions.set(file, current + 1);
    const w = writeJsonAtomic(file, value);
    fileWrites.set(file, w);
    try {
      await w;
    } finally {
      if (fileWrites.get(file) === w) fileWrites.delete(file);
    }
    return current + 1;
  }
}

/**
 * Read, change, write: `change` gets the document as it is and says what to write (nothing: no
 * write) and what to return; read again when another writer came first (KV), at most 20 times.
 */
export async function updateDoc<R>(docs: DocStore, name: DocName, change: (d: Doc) => { value?: unknown; result: R }): Promise<R> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const d = await docs.read(name);
    const { value, result } = change(d);
    if (value === undefined || (await docs.write(name, value, d.rev)) !== undefined) return result;
  }
  throw new Error(`${name}: changed by another writer at every attempt; try again`);
}

/** A document's value through its schema: undefined when there is none, an error naming where it is when it fails. */
export function docValue<T>(d: Doc, schema: z.ZodType<T>): T | undefined {
  if (d.value === undefined) return undefined;
  const r = schema.safeParse(d.value);
  if (!r.success) throw new Error(`${d.where}: not a valid state file (${r.error.issues[0]?.message}); fix or delete it`);
  return r.data;
}
