// The button reference table's file (state/telegram/refs.json): each short reference a button
// carries and the key it stands for, with the day it was last used. Read with a schema; written
// atomically. What the table means is bot/refs.ts.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readChecked, writeJsonAtomic } from './atomic.js';

const RefsFileSchema = z.object({
  version: z.literal(1),
  refs: z.record(z.string(), z.object({ key: z.string(), at: z.string() })),
});

export type RefEntry = { key: string; at: string };

/**
 * The entries of the file: `undefined` when there is none yet, `null` when it cannot be read or
 * is not a reference table (the caller says so and starts empty).
 */
export async function readRefsFile(file: string): Promise<Record<string, RefEntry> | undefined | null> {
  const read = await readChecked(file, RefsFileSchema);
  return read.ok ? read.value.refs : read.why === 'none' ? undefined : null;
}

/** The same for the table kept as a document (NATS KV): undefined when none, null when not a table. */
export function refsOfDoc(value: unknown): Record<string, RefEntry> | undefined | null {
  if (value === undefined) return undefined;
  const r = RefsFileSchema.safeParse(value);
  return r.success ? r.data.refs : null;
}

export async function writeRefsFile(file: string, refs: ReadonlyMap<string, RefEntry>): Promise<void> {
  // Its directory is the outbox's parent, made by the outbox's files, which with NATS are in KV.
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeJsonAtomic(file, { version: 1, refs: Object.fromEntries(refs) });
}
