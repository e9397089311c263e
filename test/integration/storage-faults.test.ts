// HOMELAB_ROOT running out of space (a small tmpfs whose inodes run out: every new file fails with
// ENOSPC, appends to existing event files still work), and a directory of it mounted elsewhere.
// Needs root for mount(8): .ci/run runs as root; elsewhere the test is skipped with the reason.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { layout, type Layout } from '../../src/store/paths.js';
import { appendEvents, runNodeArgs, memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';
import { report } from '../support/soak.js';

function mountProbe(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const dir = spawnSync('mktemp', ['-d']).stdout.toString().trim();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  if (r.status !== 0) return `mount failed: ${r.stderr.toString().trim()}`;
  spawnSync('umount', [dir]);
  spawnSync('rmdir', [dir]);
  return undefined;
}
const reason = mountProbe();
if (reason && process.env.CI === 'true') throw new Error(`storage fault tests must run in CI: ${reason}`);
if (reason) console.warn(`skipping storage fault tests: ${reason}`);

let root: string;
let hosts: string;
let l: Layout;
let running: Running | undefined;
const mounts: string[] = [];

function mount(dir: string, opts: string): void {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  if (r.status !== 0) throw new Error(`mount ${dir}: ${r.stderr}`);
  mounts.push(dir);
}

beforeEach(async () => {
  root = await tempDir('hcp-storage-');
  hosts = path.join(root, 'hosts');
  await writeHosts(hosts, { n1: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  s1: {}\n  s2: {}\n  s3: {}\n' });
  l = layout(path.join(root, 'homelab'));
  await mkdir(l.root, { recursive: true });
});
afterEach(async () => {
  await running?.stop().catch(() => {});
  running = undefined;
  for (const m of mounts.splice(0).reverse()) spawnSync('umount', ['-l', m]);
  await removeDir(root);
});

describe.skipIf(reason !== undefined)('storage faults', () => {
  it('a full HOMELAB_ROOT: old state intact, /healthz degraded, everything catches up when space returns', async () => {
    mount(l.root, 'size=16m,nr_inodes=400');
    const mem = memoryLogger('warn');
    running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '2' }), mem.log);
    const now = () => new Date().toISOString();
    await appendEvents(l.root, [{ ts: now(), node: 'n1', type: 'node_heartbeat' }, ...['s1', 's2', 's3'].map((s) => ({ ts: now(), node: 'n1', type: 'service_healthy', service: s }))]);
    await waitFor(async () => (await readFile(l.worldServices, 'utf8')).includes('"n1/s3"'), { what: 'world' });
    expect((await fetch(`${running.address}/healthz`)).status).toBe(200);
    const worldBefore = await readFile(l.worldServices, 'utf8');
    const checkpointBefore = await readFile(l.checkpoint, 'utf8');

    // Use up every free inode: no new file can be made on HOMELAB_ROOT now.
    const filler = path.join(l.root, 'filler');
    await mkdir(filler);
    let n = 0;
    for (;;) {
      try {
        await writeFile(path.join(filler, String(n++)), '');
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
        break;
      }
    }
    // A service goes down: the event is appended (an existing file grows), nothing can be written.
    await appendEvents(l.root, [{ ts: now(), node: 'n1', type: 'containers_not_running', service: 's1' }]);
    const degraded = await waitFor(
      async () => {
        const r = await fetch(`${running!.address}/healthz`);
        const body = (await r.json()) as { status: string; problems: string[] };
        return r.status === 503 && body.problems.some((p) => /ENOSPC|no space/i.test(p)) ? body : undefined;
      },
      { what: '/healthz degraded by the failed writes' },
    );
    expect(degraded.status).toBe('degraded');
    expect(degraded.problems.join('\n')).toMatch(/no free inodes left/);
    // Old state intact: the same world and checkpoint, no temp file, no half action.
    expect(await readFile(l.worldServices, 'utf8')).toBe(worldBefore);
    expect(await readFile(l.checkpoint, 'utf8')).toBe(checkpointBefore);
    for (const d of [l.world, l.state, l.actionDir('pending')]) expect((await readdir(d)).filter((x) => x.startsWith('.'))).toEqual([]);
    expect(await readdir(l.actionDir('pending'))).toEqual([]);
    // The page and the API still answer from what is known.
    expect((await fetch(`${running.address}/summary`)).status).toBe(200);

    // Space returns: the loops retry on their own and catch up.
    await rm(filler, { recursive: true, force: true });
    await waitFor(async () => (await readdir(l.actionDir('pending'))).includes('container-restart-n1-s1.json'), { timeoutMs: 30_000, what: 'the action once space is back' });
    await waitFor(async () => (await readFile(l.worldServices, 'utf8')).includes('containers_not_running'), { what: 'world written' });
    await waitFor(async () => (await fetch(`${running!.address}/healthz`)).status === 200, { timeoutMs: 30_000, what: '/healthz ok again' });
    expect(mem.text()).toMatch(/ENOSPC/);
    report('disk_full', { inodes_filled: n, healthz_while_full: 503, old_state_intact: true, recovered: true, failures: 0 });
  }, 90_000);

  it('events/ on another mount than actions/ is refused at start with a clear error', async () => {
    const events = path.join(l.root, 'events');
    await mkdir(events, { recursive: true });
    mount(events, 'size=1m');
    const child = spawn(process.execPath, [...runNodeArgs, 'run'], { env: { PATH: process.env.PATH, HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(err).toMatch(/events\/ .* is on another filesystem than actions\/ .*EXDEV/);
    // Nothing started: no pid file was left behind.
    expect(await readdir(l.state).catch(() => [])).not.toContain('control-plane.pid');
    report('exdev_at_start', { detected: true, exit_code: code, failures: 0 });
  }, 30_000);
});
