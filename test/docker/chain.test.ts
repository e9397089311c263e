// Healing in order on the real engine (docs/design/executor.md, chains): a busybox httpd "vpn"
// and two containers in its network namespace whose health checks fetch 127.0.0.1 from it. After
// the vpn is killed they stay unhealthy even once it runs again; the root's action restarts (or
// recreates) the vpn and then brings both back into its namespace.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import type { Action } from '../../src/domain/actions.js';
import type { DesiredState } from '../../src/domain/schemas.js';
import { Agent } from '../../src/agent/agent.js';
import { LocalSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config.js';
import { Executor } from '../../src/loops/executor.js';
import { startControlPlane } from '../../src/main.js';
import { FakeBotApi } from '../support/bot-api.js';
import { ActionStore } from '../../src/store/actions.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled } from '../support/docker.js';
import { memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'nas';
const PORT = 18099;

let root: string;
let store: ActionStore;
let docker: Docker;
const name = (s: string) => `hcp-${runId}-${s}`;
const HEALTH = { Test: ['CMD', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${PORT}/`], Interval: 300_000_000, Timeout: 1_000_000_000, Retries: 1, StartPeriod: 0 };

function desired(): DesiredState {
  const svc = (s: string, depends_on: string[] = []) => ({ node: NODE, service: s, containers: [name(s)], monitor: true, auto_approve: false, updates: 'off' as const, depends_on });
  return { [NODE]: { node: NODE, docker: { socket: '/var/run/docker.sock' }, services: { vpn: svc('vpn'), a1: svc('a1', ['vpn']), a2: svc('a2') } } };
}

/** The vpn, and a1 and a2 in its network namespace (`by`: the vpn's name, or its id as compose writes it). */
async function startFleet(by: 'name' | 'id'): Promise<{ vpn: Docker.Container; a1: Docker.Container; a2: Docker.Container }> {
  const vpn = await makeTestContainer(docker, runId, name('vpn'), { Cmd: ['sh', '-c', `mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p ${PORT} -h /www`] });
  const ns = `container:${by === 'id' ? (await vpn.inspect()).Id : name('vpn')}`;
  const dep = (s: string) => makeTestContainer(docker, runId, name(s), { Healthcheck: HEALTH, HostConfig: { NetworkMode: ns } });
  const fleet = { vpn, a1: await dep('a1'), a2: await dep('a2') };
  await waitFor(async () => (await Promise.all([fleet.a1, fleet.a2].map((c) => c.inspect()))).every((i) => i.State.Health?.Status === 'healthy'), { timeoutMs: 30_000, what: 'both dependents healthy at first' });
  return fleet;
}

async function approved(type: 'container_restart' | 'redeploy'): Promise<Action> {
  const id = `${type === 'redeploy' ? 'redeploy' : 'container-restart'}-${NODE}-vpn`;
  const chain = { dependents: [{ service: 'a1', containers: [name('a1')], needs: [] }, { service: 'a2', containers: [name('a2')], needs: [] }] };
  await store.create({ id, instance: '20260527T140000Z', type, risk: type === 'redeploy' ? 'guarded' : 'low', node: NODE, service: 'vpn', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: [name('vpn')], drift_since: null, chain });
  return store.transition({ id, from: 'pending', to: 'approved', by: 'test' });
}

async function finished(id: string): Promise<Action> {
  for (const state of ['completed', 'failed'] as const) {
    const n = (await readdir(store.dir(state))).find((x) => x.startsWith(`${id}@`));
    if (n) return JSON.parse(await readFile(path.join(store.dir(state), n), 'utf8'));
  }
  throw new Error(`${id} did not finish`);
}

async function runOnce(): Promise<void> {
  const ex = new Executor({ actions: store, desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: Date.now, actionTimeoutS: 60, verifyAfterS: 60, settleMs: 300 });
  await ex.pass();
  await ex.idle();
}

const health = async (c: Docker.Container) => (await c.inspect()).State.Health?.Status;

describe.skipIf(!run)('a chain on a real engine: the vpn, then what shares its network', () => {
  beforeEach(async () => {
    docker = probe.docker!;
    root = await tempDir('hcp-chain-');
    store = new ActionStore(path.join(root, 'actions'));
    await store.ensureDirs();
  });
  afterEach(async () => {
    await removeLabelled(docker, runId);
    await removeDir(root);
  });
  afterAll(async () => {
    if (docker) await removeLabelled(docker, runId);
  });

  it('kill the vpn: both dependents turn unhealthy; the chain restarts the vpn, then both, and they are healthy again', async () => {
    const { vpn, a1, a2 } = await startFleet('name');
    await vpn.kill();
    await waitFor(async () => (await health(a1)) === 'unhealthy' && (await health(a2)) === 'unhealthy', { timeoutMs: 30_000, what: 'dependents unhealthy' });
    const a = await approved('container_restart');
    await runOnce();
    const done = await finished(a.id);
    expect(done.state, done.error).toBe('completed');
    expect((await vpn.inspect()).State.Running).toBe(true);
    expect(await health(a1)).toBe('healthy');
    expect(await health(a2)).toBe('healthy');
    expect((done.result as { chain: unknown }).chain).toEqual([
      { service: 'a1', outcome: 'restarted', note: 'restarted after vpn' },
      { service: 'a2', outcome: 'restarted', note: 'restarted after vpn' },
    ]);
  });

  it('the vpn recreated (redeploy): dependents that named its old id are recreated into the new namespace', async () => {
    const { vpn } = await startFleet('id');
    const oldId = (await vpn.inspect()).Id;
    await vpn.kill();
    const a = await approved('redeploy');
    await runOnce();
    const done = await finished(a.id);
    expect(done.state, done.error).toBe('completed');
    const fresh = await docker.getContainer(name('vpn')).inspect();
    expect(fresh.Id).not.toBe(oldId);
    for (const s of ['a1', 'a2']) {
      const info = await docker.getContainer(name(s)).inspect();
      expect(info.HostConfig.NetworkMode).toBe(`container:${fresh.Id}`);
      expect(info.State.Health?.Status).toBe('healthy');
    }
    expect((done.result as { chain: { outcome: string }[] }).chain.map((c) => c.outcome)).toEqual(['recreated', 'recreated']);
  });

  it('a failed step stops the chain; the action says what was done and what was not', async () => {
    const { vpn, a1 } = await startFleet('name');
    await vpn.kill();
    const id = `container-restart-${NODE}-vpn`;
    const chain = { dependents: [{ service: 'a1', containers: [name('a1')], needs: [] }, { service: 'gone', containers: [name('gone')], needs: [] }, { service: 'a2', containers: [name('a2')], needs: [] }] };
    await store.create({ id, instance: '20260527T140000Z', type: 'container_restart', risk: 'low', node: NODE, service: 'vpn', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: [name('vpn')], drift_since: null, chain });
    await store.transition({ id, from: 'pending', to: 'approved', by: 'test' });
    await runOnce();
    const done = await finished(id);
    expect(done.state).toBe('failed');
    expect(done.error).toBe(`vpn came back, but gone did not: container ${name('gone')} not found. Done: vpn, a1 restarted. Not done: gone, a2`);
    expect((await vpn.inspect()).State.Running).toBe(true);
    expect(await health(a1)).toBe('healthy');
  });

  it('the whole loop: kill the vpn → one pending action and one message naming both dependents (one declared, one learned); approve → all three healthy, verified', async () => {
    const token = '987654321:AAE2eTestTokenForTheChainTest_abcdef';
    const api = await new FakeBotApi(token).start();
    const hosts = path.join(root, 'hosts');
    const home = path.join(root, 'homelab');
    const { vpn } = await startFleet('name');
    await writeHosts(hosts, {
      [NODE]: `docker:\n  socket: /var/run/docker.sock\nservices:\n  vpn:\n    containers: [${name('vpn')}]\n  a1:\n    containers: [${name('a1')}]\n    depends_on: [vpn]\n  a2:\n    containers: [${name('a2')}]\n`,
    });
    const running = await startControlPlane(
      loadConfig({ PORT: '0', HOMELAB_ROOT: home, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600', VERIFY_AFTER_S: '60', TELEGRAM_BOT_TOKEN: token, TELEGRAM_CHAT_ID: '777', TELEGRAM_ADMIN_IDS: '42', TELEGRAM_API_ROOT: api.url }),
      memoryLogger().log,
    );
    const agent = new Agent({ node: NODE, desired: () => running.desired.current()[NODE]!, docker, sink: new LocalSink(path.join(home, 'events'), NODE), stateDir: path.join(root, 'agent'), log: memoryLogger().log, intervalMs: 60_000, diskPaths: [] });
    await agent.init();
    await agent.start();
    try {
      const world = () => running.observer.current();
      await waitFor(() => ['vpn', 'a1', 'a2'].every((s) => world().services[`${NODE}/${s}`]?.status === 'healthy') && world().nodes[NODE]?.links?.a2 !== undefined, { timeoutMs: 30_000, what: 'all healthy, a2\'s link learned' });
      expect(world().nodes[NODE]!.links!.a2!.on).toEqual([{ on: 'vpn', container: name('vpn'), how: 'network' }]);
      await vpn.kill();
      const id = `container-restart-${NODE}-vpn`;
      const msg = await waitFor(() => api.chat(777).find((m) => m.text.includes(id)), { timeoutMs: 30_000, what: "the vpn's message" });
      await waitFor(() => ['a1', 'a2'].every((s) => world().services[`${NODE}/${s}`]?.status === 'unhealthy'), { timeoutMs: 30_000, what: 'both dependents reported unhealthy' });
      await running.loops.supervisor.runNow();
      const pending = await running.actions.list('pending');
      expect(pending.map((a) => a.id)).toEqual([id]);
      expect(pending[0]!.chain?.dependents.map((d) => d.service)).toEqual(['a1', 'a2']);
      expect(api.chat(777).filter((m) => /container-restart|redeploy/.test(m.text))).toHaveLength(1);
      expect(msg.text).toContain('root cause of a1, a2');
      api.press(msg.message_id, api.button(msg.message_id, '✅ Approve'), { id: 42, username: 'admin' });
      await waitFor(() => /verified healthy/.test(api.messages.get(msg.message_id)!.text), { timeoutMs: 60_000, what: 'completed and verified' });
      expect(api.messages.get(msg.message_id)!.text).toMatch(/Completed<\/b>.*then restarted a1, restarted a2/s);
      for (const s of ['a1', 'a2']) expect(await health(docker.getContainer(name(s)))).toBe('healthy');
      await running.loops.supervisor.runNow();
      expect(await running.actions.list('pending')).toEqual([]);
      expect(api.chat(777).filter((m) => /container-restart|redeploy/.test(m.text))).toHaveLength(1);
    } finally {
      await agent.stop();
      await running.stop();
      await api.close();
    }
  }, 180_000);
});
