// Symlinks and FIFOs planted in actions/ (and events/) are never followed and never block: the
// loops, the API and the CLI carry on around them, and what they point at is never touched.
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { layout, type Layout } from '../../src/store/paths.js';
import { cliPath, memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';
import { report } from '../support/soak.js';

let root: string;
let hosts: string;
let l: Layout;
let running: Running | undefined;

beforeEach(async () => {
  root = await tempDir('hcp-hostile-files-');
  hosts = path.join(root, 'hosts');
  await writeHosts(hosts, { n1: `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${[1, 2, 3, 4, 5].map((i) => `  s${i}: { auto_approve: true }`).join('\n')}\n` });
  l = layout(path.join(root, 'homelab'));
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await removeDir(root);
});

describe('symlinks and FIFOs in actions/ and events/', () => {
  it('are never followed or blocked on; real work goes on around them', async () => {
    const cfg = loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '1' });
    running = await startControlPlane(cfg, memoryLogger('error').log);
    await running.stop();
    running = undefined;

    // What the links point at: an action-looking file outside, and the system's secrets.
    const secret = path.join(root, 'secret.json');
    const lure = { version: 1, id: 'container-restart-n1-s2', instance: '20260101T000000Z', type: 'container_restart', risk: 'low', node: 'n1', service: 's2', drift: 'unhealthy_service', trigger: 'containers_not_running', state: 'approved', created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z', containers: ['s2'], drift_since: null, history: [] };
    await writeFile(secret, JSON.stringify(lure));
    const secretBefore = await stat(secret);
    const planted = {
      symlinks: [
        [path.join(l.actionDir('pending'), 'container-restart-n1-s1.json'), secret],
        [path.join(l.actionDir('approved'), 'container-restart-n1-s2.json'), secret],
        [path.join(l.actionDir('running'), 'container-restart-n1-s4.json'), '/dev/zero'],
        [path.join(l.actionDir('completed'), 'container-restart-n1-s4@20260101T000000Z.json'), '/etc/shadow'],
        [path.join(l.events, new Date().toISOString().slice(0, 10), 'n1.jsonl'), '/dev/urandom'],
      ],
      fifos: [
        path.join(l.actionDir('approved'), 'container-restart-n1-s3.json'),
        path.join(l.actionDir('pending'), 'fifo.json'),
        path.join(l.actionDir('failed'), 'container-restart-n1-s3@20260101T000000Z.json'),
        path.join(l.events, new Date().toISOString().slice(0, 10), 'n2.jsonl'),
      ],
    };
    for (const [link, target] of planted.symlinks) {
      await mkdir(path.dirname(link!), { recursive: true });
      await symlink(target!, link!);
    }
    for (const f of planted.fifos) {
      await mkdir(path.dirname(f), { recursive: true });
      expect(spawnSync('mkfifo', [f]).status).toBe(0);
    }
    await mkdir(path.join(l.actionDir('pending'), 'dir.json'));

    const mem = memoryLogger('info');
    running = await startControlPlane(cfg, mem.log);
    // Today's n1 file is a planted link: an agent's late write to tomorrow's file still counts.
    const tomorrow = path.join(l.events, new Date(Date.now() + 86_400_000).toISOString().slice(0, 10), 'n1.jsonl');
    await mkdir(path.dirname(tomorrow), { recursive: true });
    const ts = new Date().toISOString();
    await writeFile(tomorrow, [1, 2, 3, 4, 5].map((i) => `${JSON.stringify({ ts, node: 'n1', type: 'containers_not_running', service: `s${i}` })}\n`).join(''));
    // s5 has no planted file: its action is proposed, auto-approved and run (and fails: no engine).
    await waitFor(async () => (await readdirSafe(l.actionDir('failed'))).some((n) => n.startsWith('container-restart-n1-s5@')), { timeoutMs: 20_000, what: `s5 carried out; log:\n${mem.text().slice(-3000)}` });
    const supervisor = running.loops.supervisor;
    const passes = supervisor.status.passes;
    await waitFor(() => supervisor.status.passes > passes + 1, { timeoutMs: 10_000, what: 'more supervisor passes' });
    expect(supervisor.status.consecutiveFailures).toBe(0);

    // The API and the CLI answer around them.
    for (const s of ['pending', 'approved', 'running', 'completed', 'failed']) {
      const r = await fetch(`${running.address}/actions?state=${s}`);
      expect(r.status).toBe(200);
      expect(await r.text()).not.toContain('root:');
    }
    const cli = spawnSync(process.execPath, [cliPath, 'actions', 'list'], { env: { PATH: process.env.PATH, HOMELAB_ROOT: l.root, HOSTS_DIR: hosts }, encoding: 'utf8', timeout: 15_000 });
    expect(cli.error).toBeUndefined();
    expect(cli.status).toBe(0);
    const approve = spawnSync(process.execPath, [cliPath, 'actions', 'approve', 'container-restart-n1-s1'], { env: { PATH: process.env.PATH, HOMELAB_ROOT: l.root, HOSTS_DIR: hosts }, encoding: 'utf8', timeout: 15_000 });
    expect(approve.error).toBeUndefined();
    expect(approve.status).not.toBe(0);

    // Nothing planted moved, changed type, or was acted on; what they point at is untouched.
    for (const [link] of planted.symlinks) expect((await lstat(link!)).isSymbolicLink()).toBe(true);
    for (const f of planted.fifos) expect((await lstat(f)).isFIFO()).toBe(true);
    expect(await readFile(secret, 'utf8')).toBe(JSON.stringify(lure));
    expect((await stat(secret)).mtimeMs).toBe(secretBefore.mtimeMs);
    for (const s of ['running', 'completed', 'failed'] as const) {
      expect((await readdirSafe(l.actionDir(s))).filter((n) => n.startsWith('container-restart-n1-s2'))).toEqual([]);
    }
    report('symlinks_and_fifos', { symlinks: planted.symlinks.length, fifos: planted.fifos.length, followed: 0, blocked: 0, failures: 0 });
  }, 60_000);
});

async function readdirSafe(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return readdir(dir).catch(() => []);
}
