// With NATS_URL the actions live in JetStream KV (bucket HOMELAB_ACTIONS), against a real
// nats-server (Debian's 2.9, started here): the supervisor writes a drift's action there and not
// into the files, the CLI lists and approves it from another process, the control plane's executor
// hears of the approval and runs it once, and /healthz says the bucket is read. A CLI that cannot
// reach NATS says so and changes nothing.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Action } from '../../src/domain/actions.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { eventMsgId, eventSubject } from '../../src/nats/events.js';
import { cliPath, memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';
import { natsMissing, openKvStore, startNats, type TestNats } from '../support/nats.js';
import { freePort } from '../support/registry.js';
import { ActionStore } from '../../src/store/actions.js';
import { EvidenceStore } from '../../src/store/evidence.js';
import { KvDocs } from '../../src/nats/docs-kv.js';
import { SupervisorState } from '../../src/store/supervisor-state.js';

const missing = natsMissing();
if (missing) console.warn(`NATS actions tests skipped: ${missing}`);

/** The CLI in its own process; resolves with its exit code and output. */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe.skipIf(missing !== undefined)('actions in NATS KV', () => {
  let root: string;
  let hosts: string;
  let nats: TestNats | undefined;
  let running: Running | undefined;
  let client: NatsConnection | undefined;

  beforeEach(async () => {
    root = await tempDir('hcp-nats-actions-');
    hosts = path.join(root, 'hosts');
    // No engine there: the approved restart fails, which is what the executor says of it.
    await writeHosts(hosts, { pi: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n' });
  });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await client?.close();
    client = undefined;
    await nats?.stop();
    nats = undefined;
    await removeDir(root);
  });

  const env = (url: string) => ({ HOMELAB_ROOT: path.join(root, 'homelab'), HOSTS_DIR: hosts, NATS_URL: url });

  it('a drift\'s action is written to the bucket, listed and approved by the CLI from another process, and run once by the control plane', async () => {
    nats = await startNats(root);
    running = await startControlPlane(loadConfig({ PORT: '0', RECONCILE_INTERVAL_S: '3600', CONTROL_PLANE_ID: 'cp-a', ...env(nats.url) }), memoryLogger().log);
    client = await connect({ servers: nats.url });
    const e = { ts: new Date().toISOString(), node: 'pi', type: 'containers_not_running', agent: 'a1', seq: 1, service: 'web' };
    await waitFor(() => client!.jetstream().publish(eventSubject('pi'), JSON.stringify(e), { msgID: eventMsgId(e) }).catch(() => undefined), { what: 'the event acknowledged' });
    const watcher = await openKvStore(nats.url);
    try {
      const pending = await waitFor(async () => (await watcher.store.list('pending'))[0], { what: 'the pending action in the bucket' });
      expect(pending).toMatchObject({ node: 'pi', service: 'web', type: 'container_restart' });
      // Nothing in the files: the bucket is where the actions are.
      expect(await readdir(path.join(root, 'homelab', 'actions', 'pending')).catch(() => [])).toEqual([]);
      const health = await (await fetch(`${running.address}/healthz`)).json();
      expect(health.nats).toMatchObject({ state: 'up', actions: 'read' });

      const listed = await cli(['actions', 'list', '--output', 'json'], env(nats.url));
      expect(listed.code, listed.err).toBe(0);
      expect((JSON.parse(listed.out) as Action[]).map((a) => a.id)).toEqual([pending.id]);
      const approved = await cli(['actions', 'approve', pending.id, '--yes', '--by', 'ann'], env(nats.url));
      expect(approved.code, approved.err).toBe(0);
      expect(approved.out).toMatch(new RegExp(`approved ${pending.id}`));

      // The control plane hears of it through its watch and runs it (here: no engine, so it fails).
      const done = await waitFor(async () => {
        const a = await watcher.store.find(pending.id, pending.instance);
        return a && (a.state === 'completed' || a.state === 'failed') ? a : undefined;
      }, { what: 'the approved action run by the control plane', timeoutMs: 30_000 });
      expect(done.history.map((h) => h.state)).toEqual(['pending', 'approved', 'running', done.state]);
      expect(done.approved_by).toMatchObject({ via: 'cli', name: 'ann' });
      const api = await (await fetch(`${running.address}/actions?state=all`)).json();
      expect(api.actions.map((a: Action) => `${a.id} ${a.state}`)).toEqual([`${pending.id} ${done.state}`]);
      const again = await cli(['actions', 'approve', pending.id, '--yes'], env(nats.url));
      expect(again.code).toBe(1);
      expect(again.err).toMatch(new RegExp(`not pending any more: it is ${done.state}`));
    } finally {
      await watcher.close();
    }
  });

  it('a command that cannot reach NATS says so, naming the bucket, and changes nothing', async () => {
    const port = await freePort();
    nats = await startNats(root);
    // A data directory made by a run, then the server address of one that is not there.
    running = await startControlPlane(loadConfig({ PORT: '0', RECONCILE_INTERVAL_S: '3600', ...env(nats.url) }), memoryLogger().log);
    await running.stop();
    running = undefined;
    const r = await cli(['actions', 'approve', 'container-restart-pi-web', '--yes'], env(`nats://127.0.0.1:${port}`));
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/the actions are in NATS KV HOMELAB_ACTIONS \(NATS_URL is set\), and NATS cannot be reached/);
    const silenced = await cli(['silence', 'add', 'pi/web', '1h'], env(`nats://127.0.0.1:${port}`));
    expect(silenced.code).not.toBe(0);
    expect(silenced.err).toMatch(/the supervisor's state is in NATS KV HOMELAB_STATE \(NATS_URL is set\), and NATS cannot be reached/);
    // A wrong command is said as such, before NATS is asked anything.
    const wrong = await cli(['silence', 'bogus'], env(`nats://127.0.0.1:${port}`));
    expect(wrong.err).toMatch(/unknown silence command "bogus"/);
  });

  it('nats import brings the files\' actions into the bucket once: open ones stay open there, finished ones are kept', async () => {
    nats = await startNats(root);
    const files = new ActionStore(path.join(root, 'homelab', 'actions'));
    await files.ensureDirs();
    const draft = (service: string) => ({ id: `container-restart-pi-${service}`, instance: '20261203T100000Z', type: 'container_restart' as const, risk: 'low' as const, node: 'pi', service, drift: 'unhealthy_service', trigger: 'containers_not_running', containers: [service], drift_since: null });
    const open = (await files.create(draft('web')))!;
    await new EvidenceStore(path.join(root, 'homelab', 'actions', 'evidence')).write({ version: 1, id: open.id, instance: open.instance, node: 'pi', service: 'web', collected_at: '2026-12-03T10:00:01.000Z', containers: [], error: "pi's engine unreachable" });
    const fileState = new SupervisorState(path.join(root, 'homelab', 'state'));
    await fileState.ensureDirs();
    await fileState.silenceWindows.add('pi/db', 3_600_000, Date.now(), { reason: 'moving disks' });
    const old = (await files.create(draft('db')))!;
    await files.transition({ id: old.id, from: 'pending', to: 'rejected', by: 'cli:ann' });
    const first = await cli(['nats', 'import'], env(nats.url));
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/2 action\(s\) in the files: 2 imported, 0 in the bucket already/);
    expect(first.out).toMatch(/1 active silence\(s\) in the files: 1 imported/);
    expect(first.out).toMatch(/1 open action\(s\)' evidence imported/);
    // Shown from the bucket by a host without the data directory.
    const shown = await cli(['actions', 'show', open.id], { ...env(nats.url), HOMELAB_ROOT: path.join(root, 'elsewhere') });
    expect(shown.code, shown.err).toBe(0);
    expect(shown.out).toMatch(/evidence \(read 2026-12-03T10:00:01.000Z\): pi's engine unreachable/);
    const again = await cli(['nats', 'import'], env(nats.url));
    expect(again.out).toMatch(/2 action\(s\) in the files: 0 imported, 2 in the bucket already/);
    expect(again.out).toMatch(/1 active silence\(s\) in the files: 0 imported, 1 in the bucket already/);
    expect(again.out).toMatch(/0 open action\(s\)' evidence imported/);
    const kv = await openKvStore(nats.url);
    try {
      expect((await kv.store.listOpen()).map((a) => a.id)).toEqual([open.id]);
      expect(await kv.store.get(old.id)).toMatchObject({ state: 'rejected', history: [{ state: 'pending' }, { state: 'rejected', by: 'cli:ann' }] });
      // Open there as it was in the files: the id is not opened twice.
      expect(await kv.store.create(draft('web'))).toBeUndefined();
    } finally {
      await kv.close();
    }
  });

  it('a restart the last leader had under way, in HOMELAB_STATE, is put right by the next leader before anything else runs on its node', async () => {
    nats = await startNats(root);
    client = await connect({ servers: nats.url });
    const docs = new KvDocs();
    docs.begin(client);
    // What a leader killed half way through a restart of web leaves behind: the action claimed, and
    // the containers that ran before it (store/interrupted.ts).
    const kv = await openKvStore(nats.url);
    const a = (await kv.store.create({ id: 'container-restart-pi-web', instance: '20261203T100000Z', type: 'container_restart', risk: 'low', node: 'pi', service: 'web', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: ['web'], drift_since: null }))!;
    await kv.store.transition({ id: a.id, from: 'pending', to: 'approved', by: 'cli:ann' });
    await kv.store.transition({ id: a.id, from: 'approved', to: 'running', by: 'executor' });
    await kv.close();
    await docs.write('interrupted', [{ id: a.id, instance: a.instance, node: 'pi', containers: ['web'], restart: true }]);
    const mem = memoryLogger();
    running = await startControlPlane(loadConfig({ PORT: '0', RECONCILE_INTERVAL_S: '3600', ...env(nats.url) }), mem.log);
    // No engine on pi here: the new leader says it cannot check web yet, and keeps the record.
    await waitFor(() => mem.lines.find((l) => /cannot check container-restart-pi-web's containers yet/.test(String(l.msg))), { what: 'the new leader checking the interrupted restart' }).catch((err: Error) => {
      throw new Error(`${err.message}; log: ${mem.lines.filter((l) => (l.level as number) >= 30).map((l) => String(l.msg)).join(' | ')}`);
    });
    expect((await docs.read('interrupted')).value).toMatchObject([{ id: 'container-restart-pi-web', restart: true }]);
    expect(await running.actions.get(a.id)).toMatchObject({ state: 'failed', error: 'interrupted' });
  });

  it('update checks and skips are in HOMELAB_STATE: the leader plans with what is there, and the CLI on any host lists and skips them', async () => {
    nats = await startNats(root);
    client = await connect({ servers: nats.url });
    const docs = new KvDocs();
    docs.begin(client);
    const check = { node: 'pi', service: 'web', checked_at: '2026-12-03T10:00:00.000Z', images: [{ image: 'nginx:1.27', containers: ['web'], local_digest: 'sha256:aaaa', remote_digest: 'sha256:bbbb', status: 'image_update_available' }] };
    await docs.write('updates', { 'pi/web': check });
    running = await startControlPlane(loadConfig({ PORT: '0', RECONCILE_INTERVAL_S: '3600', ...env(nats.url) }), memoryLogger().log);
    await running.loops.supervisor.runNow();
    expect(running.updates.updates()['pi/web']).toMatchObject({ images: [{ remote_digest: 'sha256:bbbb' }] });
    const cliEnv = { HOMELAB_ROOT: path.join(root, 'elsewhere'), HOSTS_DIR: hosts, NATS_URL: nats.url };
    const listed = await cli(['updates', 'list', '-o', 'json'], cliEnv);
    expect(listed.code, listed.err).toBe(0);
    expect(JSON.parse(listed.out)).toMatchObject([{ node: 'pi', service: 'web' }]);
    const skipped = await cli(['updates', 'skip', 'pi/web', '--by', 'ann'], cliEnv);
    expect(skipped.code, skipped.err).toBe(0);
    await running.loops.supervisor.runNow();
    expect(running.updates.skips()['pi/web']).toMatchObject([{ digest: 'sha256:bbbb', reason: 'skipped', by: 'ann' }]);
  });

  it('silences and maintenance set by the CLI on any host are in the bucket HOMELAB_STATE, where every control plane reads them', async () => {
    nats = await startNats(root);
    // No data directory on this host: the CLI needs NATS only.
    const cliEnv = { HOMELAB_ROOT: path.join(root, 'elsewhere'), HOSTS_DIR: hosts, NATS_URL: nats.url };
    const added = await cli(['silence', 'add', 'pi/web', '2h', '--reason', 'upgrading'], cliEnv);
    expect(added.code, added.err).toBe(0);
    const started = await cli(['maintenance', 'start', 'pi', '--for', '30m'], cliEnv);
    expect(started.code, started.err).toBe(0);
    const listed = await cli(['silence', 'list', '--output', 'json'], cliEnv);
    expect(JSON.parse(listed.out)).toMatchObject([{ target: 'pi/web', reason: 'upgrading' }]);
    running = await startControlPlane(loadConfig({ PORT: '0', RECONCILE_INTERVAL_S: '3600', ...env(nats.url) }), memoryLogger().log);
    expect((await running.supervisorState.silenceWindows.current(Date.now())).map((w) => w.target)).toEqual(['pi/web']);
    expect((await running.supervisorState.maintenanceWindows.current(Date.now())).map((w) => w.target)).toEqual(['pi']);
    const removed = await cli(['silence', 'rm', 'pi/web'], cliEnv);
    expect(removed.code, removed.err).toBe(0);
    expect(await running.supervisorState.silenceWindows.current(Date.now())).toEqual([]);
  });
});
