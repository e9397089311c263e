// The pid file: one control plane per data directory, and offline tools that refuse to run
// beside a live one.
import { promises as fs } from 'node:fs';
import { ConfigError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { checkOneFilesystem, ensureLayout, layout, pidFile, type Layout } from './paths.js';

/**
 * The pid of a control plane running on this state directory, if any. A pid file whose process
 * is gone, or is another program now (pids are reused after a reboot), does not count: on Linux
 * /proc/<pid>/cmdline must name this program's `run`.
 */
export async function readLivePid(stateDir: string): Promise<number | undefined> {
  const text = await fs.readFile(pidFile(stateDir), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return pid; // no /proc: trust the pid file
  const args = cmdline.split('\0');
  const ours = args.some((a) => /(?:^|\/)(?:cli\.js|control-plane)$/.test(a)) && args.includes('run');
  return ours ? pid : undefined;
}

/** The data directory: laid out, on one filesystem, and not used by another control plane. */
export async function claimRoot(root: string): Promise<Layout> {
  const l = layout(root);
  await ensureLayout(l);
  await checkOneFilesystem(l).catch((err: Error) => {
    throw new ConfigError('HOMELAB_ROOT', err.message);
  });
  const other = await readLivePid(l.state);
  if (other !== undefined) {
    throw new ConfigError('HOMELAB_ROOT', `another control plane (pid ${other}) is running on ${l.root}; stop it first, or give this one another HOMELAB_ROOT (if pid ${other} is not a control plane, remove ${pidFile(l.state)})`);
  }
  await writeFileAtomic(pidFile(l.state), `${process.pid}\n`);
  return l;
}

/** Gives the data directory up: the pid file goes (a stop's last step, or a failed start's). */
export async function releaseRoot(l: Layout): Promise<void> {
  await fs.rm(pidFile(l.state), { force: true });
}
