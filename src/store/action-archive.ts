// archive/actions-YYYY-MM.jsonl.gz (ACTIONS_ARCHIVE=1): finished actions retention removed, one
// JSON line each ({"action": …, "evidence": … | null}), by the month they ended in. A month's
// file is rewritten whole, atomically (read, add the new lines, gzip, rename): a crash leaves the
// old file or the new one, never a cut gzip member, and an action archived before a crash is not
// archived twice (lines are keyed by id@instance).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { writeFileAtomic } from './atomic.js';

export interface ArchiveEntry {
  /** id@instance */
  key: string;
  /** The month the action ended in (YYYY-MM). */
  month: string;
  line: string;
}

export function archiveFile(dir: string, month: string): string {
  return path.join(dir, `actions-${month}.jsonl.gz`);
}

/** The lines of a month's archive (none when it is not there). */
export async function readArchive(dir: string, month: string): Promise<string[]> {
  const data = await fs.readFile(archiveFile(dir, month)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!data) return [];
  return gunzipSync(data).toString('utf8').split('\n').filter((x) => x.length > 0);
}

/** Adds entries to their months' archives (those already there are not added again). Returns how many were added. */
export async function addToArchive(dir: string, entries: readonly ArchiveEntry[], keyOf: (line: string) => string | undefined): Promise<number> {
  const byMonth = new Map<string, ArchiveEntry[]>();
  for (const e of entries) byMonth.set(e.month, [...(byMonth.get(e.month) ?? []), e]);
  let added = 0;
  await fs.mkdir(dir, { recursive: true });
  for (const [month, list] of byMonth) {
    const lines = await readArchive(dir, month);
    const have = new Set(lines.map(keyOf));
    const fresh = list.filter((e) => !have.has(e.key));
    if (fresh.length === 0) continue;
    const text = `${[...lines, ...fresh.map((e) => e.line)].join('\n')}\n`;
    await writeFileAtomic(archiveFile(dir, month), gzipSync(Buffer.from(text, 'utf8')));
    added += fresh.length;
  }
  return added;
}
