// The executor when the Docker Engine goes away in the middle of an action and comes back, and
// proof that containers services.yaml does not name are never touched, whatever their names.
// The engine "stops" for the control plane the way it does on a node: its socket stops answering
// (a relay in front of the real dockerd is shut, cutting live connections), then returns.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Action } from '../../src/domain/actions.js';
import type { ActionDraft } from '../../src/domain/plan.js';
import type { DesiredState } from '../../src/domain/schemas.js';
import { Executor } from '../../src/loops/executor.js';
import { ActionStore } from '../../src/store/actions.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled } from '../support/docker.js';
import { memoryLogger, removeDir, tempDir, waitFor } from '../support/helpers.js';
import { report } from '../support/soak.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'faultnode';

let root: string;
let store: ActionStore;
let docker: Docker;

/** A unix socket relaying to the real engine, which can be shut (connections cut) and reopened. */
class EngineRelay {
  private server: net.Server | undefined;
  private sockets = new Set<net.Socket>();
  constructor(readonly path: string) {}
  async open(): Promise<void> {
    await rm(this.path, { force: true });
    this.server = net.createServer((client) => {
      const upstream = net.connect('/var/run/docker.sock');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.path, resolve));
  }
  async shut(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const c of this.sockets) c.destroy();
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
    await rm(this.path, { force: true });
  }
}

function makeContainer(name: string, start = true): Promise<Docker.Container> {
  return makeTestContainer(docker, runId, name, {}, start);
}

function desiredFor(services: Record<string, string[]>, socket: string): DesiredState {
  return {
    [NODE]: {
      node: NODE,
      docker: { socket },
      services: Object.fromEntries(Object.entries(services).map(([s, containers]) => [s, { node: NODE, service: s, containers, monitor: true, auto_approve: false }])),
    },
  };
}

function draft(type: ActionDraft['type'], service: string): ActionDraft {
  return { id: `${type === 'redeploy' ? 'redeploy' : 'container-restart'}-${NODE}-${service}`, instance: `20260527T14000${Math.floor(Math.random() * 10)}Z`, type, risk: type === 'redeploy' ? 'guarded' : 'low', node: NODE, service, drift: 'unhealthy_service', trigger: 'test', containers: [], drift_since: null };
}

async function approve(d: ActionDraft): Promise<Action> {
  const a = await store.create(d);
  return store.transition({ id: a!.id, from: 'pending', to: 'approved', by: 'test' });
}

async function finishedAs(id: string): Promise<Action | undefined> {
  for (const s of ['completed', 'failed'] as const) {
    const a = (await store.list(s)).find((x) => x.id === id);
    if (a) return a;
  }
  return undefined;
}

describe.skipIf(!run)('Docker faults and scope', () => {
  beforeEach(async () => {
    docker = probe.docker!;
    root = await tempDir('hcp-faults-');
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

  it('the engine stops mid-action: the action fails with a clear error, the loop goes on, the next action works once it is back', async () => {
    const relay = new EngineRelay(path.join(root, 'engine.sock'));
    await relay.open();
    const a1 = `hcp-${runId}-one`;
    const a2 = `hcp-${runId}-two`;
    await makeContainer(a1);
    const c2 = await makeContainer(a2);
    await c2.stop({ t: 1 });
    const desired = desiredFor({ one: [a1], two: [a2] }, relay.path);
    const mem = memoryLogger();
    const ex = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: mem.log, now: Date.now, actionTimeoutS: 30, verifyAfterS: 120 });

    // 1. The engine goes away while the restart is under way (it waits for the container to stay up).
    const first = await approve(draft('container_restart', 'one'));
    await ex.pass();
    await waitFor(async () => (await store.list('running')).some((x) => x.id === first.id), { what: 'running' });
    await relay.shut();
    await ex.idle();
    const failed = await waitFor(() => finishedAs(first.id), { what: 'first finished' });
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/^lost faultnode's Docker Engine at unix:\/\/.*engine\.sock in the middle of the operation .*did dockerd stop or restart/);

    // 2. While it is away, another action fails at once, clearly, without hanging the loop.
    const second = await approve(draft('container_restart', 'two'));
    await ex.pass();
    await ex.idle();
    expect((await waitFor(() => finishedAs(second.id), { what: 'second finished' })).error).toMatch(/cannot reach faultnode's Docker Engine .*engine\.sock/);

    // 3. The engine is back: the next action works.
    await relay.open();
    await store.create({ ...draft('container_restart', 'two'), instance: '20260527T150000Z' });
    const third = await store.transition({ id: second.id, from: 'pending', to: 'approved', by: 'test' });
    await ex.pass();
    await ex.idle();
    const done = await waitFor(async () => (await store.list('completed')).find((x) => x.instance === third.instance), { what: 'third completed' });
    expect(done.state).toBe('completed');
    expect((await c2.inspect()).State.Running).toBe(true);
    await relay.shut();
    report('engine_stopped_mid_action', { first: failed.error, while_away: 'failed at once', after_return: 'completed', failures: 0 });
  }, 120_000);

  it('containers services.yaml does not name are never touched, even with look-alike names or ids', async () => {
    const listed = `hcp-${runId}-app`;
    await makeContainer(listed);
    // Outsiders: names that contain, extend or prefix the listed one, and one reached by id prefix.
    const outsiders = [`${listed}-db`, `${listed}2`, `x${listed}`, `hcp-${runId}-ap`];
    for (const n of outsiders) await makeContainer(n);
    const victim = await makeContainer(`hcp-${runId}-victim`);
    const victimId = (await victim.inspect()).Id;
    const before = new Map<string, string>();
    const snap = async () => {
      const m = new Map<string, string>();
      for (const n of [...outsiders, `hcp-${runId}-victim`]) {
        const i = await docker.getContainer(n).inspect();
        m.set(n, `${i.Id} ${i.State.StartedAt} ${i.RestartCount} ${i.State.Status}`);
      }
      return m;
    };
    for (const [k, v] of await snap()) before.set(k, v);

    const socket = '/var/run/docker.sock';
    // A service whose "container" is the victim's id prefix: it names no container at all.
    const desired = desiredFor({ app: [listed], byid: [victimId.slice(0, 12)] }, socket);
    const ex = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: Date.now, actionTimeoutS: 60, verifyAfterS: 120 });
    const ops = [draft('container_restart', 'app'), draft('redeploy', 'app'), draft('container_restart', 'byid'), draft('redeploy', 'byid')];
    const results: string[] = [];
    for (const d of ops) {
      const a = await approve(d);
      await ex.pass();
      await ex.idle();
      const f = (await waitFor(() => finishedAs(a.id), { what: `${d.id} finished` }))!;
      results.push(`${d.id}: ${f.state}${f.error ? ` (${f.error})` : ''}`);
      if (d.service === 'byid') expect(f.error).toMatch(/not found/);
      else expect(f.state).toBe('completed');
    }
    const after = await snap();
    for (const [k, v] of before) expect(after.get(k), k).toBe(v);
    report('untouched_containers', { outsiders: outsiders.length + 1, operations: results, touched: 0, failures: 0 });
  }, 180_000);
});
