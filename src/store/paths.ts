// The layout of HOMELAB_ROOT (docs/design/files.md).
import { promises as fs } from 'node:fs';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ACTION_STATES, type ActionState } from '../domain/actions.js';
import { ConfigError } from '../errors.js';

export interface Layout {
  root: string;
  events: string;
  world: string;
  worldServices: string;
  worldNodes: string;
  state: string;
  checkpoint: string;
  /** What the event days retention removed produced (store/events-snapshot.ts). */
  eventsSnapshot: string;
  actions: string;
  /** Monthly archives of removed actions, with ACTIONS_ARCHIVE=1 (store/action-archive.ts). */
  archive: string;
  actionDir: (state: ActionState) => string;
  notices: string;
  /** Operations a stop or kill interrupted (store/interrupted.ts). */
  interrupted: string;
  /** What the update checks found, and what an operator skipped (store/updates.ts). */
  worldUpdates: string;
  updateSkips: string;
  telegram: TelegramFiles;
}

/** The bot's files under state/telegram/. */
export interface TelegramFiles {
  /** Button references (store/refs-file.ts). */
  refs: string;
  /** One file per message the bot shows (store/outbox-files.ts). */
  outbox: string;
  /** When the last daily digest was sent (store/digest-mark.ts). */
  digest: string;
  /** The last sign of life and the last start announced (store/lifecycle-mark.ts). */
  lifecycle: string;
}

export function telegramFiles(stateDir: string): TelegramFiles {
  const dir = path.join(stateDir, 'telegram');
  return { refs: path.join(dir, 'refs.json'), outbox: path.join(dir, 'outbox'), digest: path.join(dir, 'digest.json'), lifecycle: path.join(dir, 'lifecycle.json') };
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
    eventsSnapshot: path.join(r, 'state', 'events_snapshot.json'),
    actions: path.join(r, 'actions'),
    archive: path.join(r, 'archive'),
    actionDir: (state) => path.join(r, 'actions', state),
    notices: path.join(r, 'state', 'notices'),
    interrupted: path.join(r, 'state', 'interrupted-redeploys.json'),
    worldUpdates: path.join(r, 'world', 'updates.json'),
    updateSkips: path.join(r, 'state', 'update-skips.json'),
    telegram: telegramFiles(path.join(r, 'state')),
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

/**
 * What `run` needs of the machine, checked before anything starts: HOSTS_DIR is a directory, and
 * HOMELAB_ROOT is (or can be made) a writable directory. Throws ConfigError naming the variable.
 */
export function checkDirectories(cfg: { hostsDir: string; homelabRoot: string }): void {
  const hosts = statSync(cfg.hostsDir, { throwIfNoEntry: false });
  if (!hosts) throw new ConfigError('HOSTS_DIR', `no such directory ${JSON.stringify(cfg.hostsDir)} (the folder that holds <node>/services.yaml)`);
  if (!hosts.isDirectory()) throw new ConfigError('HOSTS_DIR', `${JSON.stringify(cfg.hostsDir)} is not a directory`);
  const root = cfg.homelabRoot;
  try {
    makeDirsSync(root);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOTDIR' || e.code === 'EEXIST' ? `${JSON.stringify(fileInTheWay(root))} is a file, not a directory` : `cannot create ${JSON.stringify(root)} (${e.code ?? e.message} at ${JSON.stringify(e.path ?? root)})`;
    throw new ConfigError('HOMELAB_ROOT', why);
  }
  if (!statSync(root).isDirectory()) throw new ConfigError('HOMELAB_ROOT', `${JSON.stringify(root)} is a file, not a directory`);
  try {
    accessSync(root, constants.W_OK | constants.X_OK);
  } catch {
    throw new ConfigError('HOMELAB_ROOT', `${JSON.stringify(root)} is not writable by this user (uid ${process.getuid?.() ?? '?'})`);
  }
}

/** The nearest existing part of `dir`'s path, which is in the way when it is not a directory. */
function fileInTheWay(dir: string): string {
  let p = dir;
  while (!existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
  return p;
}
