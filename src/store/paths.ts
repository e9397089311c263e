// The layout of HOMELAB_ROOT (docs/design/files.md).
import { promises as fs } from 'node:fs';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import { ACTION_STATES, type ActionState } from '../domain/actions.js';

export interface Layout {
  root: string;
  events: string;
  world: string;
  worldServices: string;
  worldNodes: string;
  state: string;
  checkpoint: string;
  actions: string;
  actionDir: (state: ActionState) => string;
  notices: string;
}

export function layout(root: string): Layout {
  const r = path.resolve(root);
  return {
    root: r,
    events: path.join(r, 'events'),
    world: path.join(r, 'world'),
    worldServices: path.join(r, 'world', 'services.json'),
    worldNodes: path.join(r, 'world', 'nodes.json'),
    state: path.join(r, 'state'),
    checkpoint: path.join(r, 'state', 'observer_checkpoint.json'),
    actions: path.join(r, 'actions'),
    actionDir: (state) => path.join(r, 'actions', state),
    notices: path.join(r, 'state', 'notices'),
  };
}

/**
 * Creates `dir` and its missing parents one at a time. (Node's recursive mkdir spins for ever on
 * some paths, e.g. under /proc, where creating a missing parent keeps answering ENOENT.)
 * Throws the first error with the path it happened on.
 */
export function makeDirsSync(dir: string): void {
  const parts: string[] = [];
  let p = path.resolve(dir);
  while (!existsSync(p)) {
    parts.unshift(p);
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const d of parts) mkdirSync(d);
}

/** The pid file under state/, so offline tools (replay) can refuse to run beside a live process. */
export function pidFile(stateDir: string): string {
  return path.join(stateDir, 'control-plane.pid');
}

/** Creates every directory the product uses; existing ones are left as they are. */
export async function ensureLayout(l: Layout): Promise<void> {
  for (const dir of [l.events, l.world, l.state, l.notices, ...ACTION_STATES.map((s) => l.actionDir(s))]) {
    await fs.mkdir(dir, { recursive: true });
  }
}

/** Free space where HOMELAB_ROOT lives: a full disk is reported before writes start failing. */
export interface StorageStatus {
  ok: boolean;
  free_bytes: number;
  free_inodes: number | null;
  problem: string | null;
}

/** Below this much free space HOMELAB_ROOT counts as full (an action file is a few KiB). */
export const MIN_FREE_BYTES = 1024 * 1024;

export async function storageStatus(root: string): Promise<StorageStatus> {
  const s = await fs.statfs(root);
  const free = s.bavail * s.bsize;
  // Filesystems without an inode table (btrfs, some FUSE) report 0 files in total.
  const inodes = s.files > 0 ? s.ffree : null;
  let problem: string | null = null;
  if (free < MIN_FREE_BYTES) problem = `no space left on the filesystem of ${root} (${free} bytes free)`;
  else if (inodes === 0) problem = `no free inodes left on the filesystem of ${root}`;
  return { ok: problem === null, free_bytes: free, free_inodes: inodes, problem };
}

/**
 * HOMELAB_ROOT must be one filesystem: actions move between their state directories with
 * rename(2) and link(2), which fail across mounts (EXDEV), and one free-space check covers it all.
 * Throws a clear error naming the directory that is mounted elsewhere.
 */
export async function checkOneFilesystem(l: Layout): Promise<void> {
  const ref = await fs.stat(l.actions);
  const dirs: [string, string][] = [
    ['events/', l.events],
    ['world/', l.world],
    ['state/', l.state],
    ...ACTION_STATES.map((s): [string, string] => [`actions/${s}/`, l.actionDir(s)]),
  ];
  for (const [name, dir] of dirs) {
    const st = await fs.stat(dir);
    if (st.dev !== ref.dev) {
      throw new Error(
        `${name} (${dir}) is on another filesystem than actions/ (device ${st.dev} vs ${ref.dev}); keep all of HOMELAB_ROOT on one mount: actions move between directories with rename(2)/link(2), which fail across mounts (EXDEV)`,
      );
    }
  }
}
