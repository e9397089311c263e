// How many bytes each kind of data under HOMELAB_ROOT takes (homelab_data_bytes{kind}, /status,
// the digest): the event days, the events snapshot, action files, evidence, and the archive.
// Sizes of regular files, counted without following symlinks.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ACTION_STATES } from '../domain/actions.js';
import type { Layout } from './paths.js';

export const DATA_KINDS = ['events', 'snapshot', 'actions', 'evidence', 'archive'] as const;
export type DataKind = (typeof DATA_KINDS)[number];
export type DataBytes = Record<DataKind, number>;

/** Bytes of the regular files under `dir` (recursively); 0 when it is not there. */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await bytesUnder(p);
    else if (e.isFile()) total += (await fs.lstat(p).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

export async function measureData(l: Layout): Promise<DataBytes> {
  let actions = 0;
  for (const s of ACTION_STATES) actions += await bytesUnder(l.actionDir(s));
  return {
    events: await bytesUnder(l.events),
    snapshot: (await fs.lstat(l.eventsSnapshot).catch(() => undefined))?.size ?? 0,
    actions,
    evidence: await bytesUnder(path.join(l.actions, 'evidence')),
    archive: await bytesUnder(l.archive),
  };
}
