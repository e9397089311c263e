// Stopping with a redeploy under way, on the real Docker Engine. A relay in front of the engine
// holds the create of the new container, so the stop (or a kill) lands after the old one was
// stopped and parked as <name>-hcp-old-…: the worst moment. Whatever happens, the service's
// container is never left half-done across a restart.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Action } from '../../src/domain/actions.js';
import { ActionStore } from '../../src/store/actions.js';
import { layout, type Layout } from '../../src/store/paths.js';
import { startRunChild, type RunChild } from '../support/child.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled } from '../support/docker.js';
import { EngineRelay } from '../support/engine-relay.js';
import { removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'shutnode';
const ID = `redeploy-${NODE}-app`;

let root: string;
let l: Layout;
let docker: Docker;
let relay: EngineRelay;
let child: RunChild | undefined;
const app = () => `hcp-${runId}-app`;

function env(graceS: number): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOMELAB_ROOT: l.root, HOSTS_DIR: path.join(root, 'hosts'), PORT: '0', SHUTDOWN_GRACE_S: String(graceS), LOG_LEVEL: 'info', AGENT_SILENT_AFTER_S: '3600' };
}

async function approvedRedeploy(): Promise<Action> {
  const store = new ActionStore(l.actionDir('pending').replace(/\/pending$/, ''));
  const a = await store.create({ id: ID, instance: '20260527T140000Z', type: 'redeploy', risk: 'guarded', node: NODE, service: 'app', drift: 'unhealthy_service', trigger: 'test', containers: [], drift_since: null });
  return store.transition({ id: a!.id, from: 'pending', to: 'approved', by: 'test' });
}

async function finishedFile(state: 'completed' | 'failed'): Promise<Action | undefined> {
  const name = (await readdir(l.actionDir(state))).find((n) => n.startsWith(`${ID}@`));
  return name ? (JSON.parse(await readFile(path.join(l.actionDir(state), name), 'utf8')) as Action) : undefined;
}

async function parked(): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { name: [`${app()}-hcp-old-`] } });
  return list.map((c) => c.Names[0]!.slice(1));
}

describe.skipIf(!run)('stopping with a redeploy under way', () => {
  beforeEach(async () => {
    docker = probe.docker!;
    root = await tempDir('hcp-shutdown-docker-');
    l = layout(path.join(root, 'homelab'));
    relay = new EngineRelay(path.join(root, 'engine.sock'));
    await relay.start();
    await writeHosts(path.join(root, 'hosts'), { [NODE]: `docker:\n  socket: ${relay.socketPath}\nservices:\n  app:\n    containers: [${app()}]\n` });
    await makeTestContainer(docker, runId, app());
  });
  afterEach(async () => {
    child?.proc.kill('SIGKILL');
    await child?.exited;
    child = undefined;
    await relay.stop();
    await removeLabelled(docker, runId);
    await removeDir(root);
  });
  afterAll(async () => {
    if (docker) await removeLabelled(docker, runId);
  });

  /** Starts the control plane and lets a redeploy run up to the first request `gate` holds. */
  async function holdAt(gate: (method: string, path: string) => boolean, what: string, graceS: number): Promise<string> {
    const oldId = (await docker.getContainer(app()).inspect()).Id;
    relay.setGate((method, p) => (gate(method, p) ? 'hold' : 'pass'));
    child = startRunChild(env(graceS));
    await child.ready();
    await approvedRedeploy();
    await waitFor(() => relay.holding === 1, { what, timeoutMs: 30_000 });
    return oldId;
  }

  /** Up to the held create of the new container: the old one is stopped and parked. */
  async function holdAtCreate(graceS: number): Promise<string> {
    const oldId = await holdAt((method, p) => method === 'POST' && p === '/containers/create', 'the create of the new container held', graceS);
    expect(await parked()).toEqual([`${app()}-hcp-old-${oldId.slice(0, 8)}`]);
    return oldId;
  }

  async function kill9(): Promise<void> {
    child!.proc.kill('SIGKILL');
    await child!.exited;
    child = undefined;
  }

  /** Starts again with the engine answering; resolves with the failed action once its recovery is recorded. */
  async function startAndAwaitRecovery(): Promise<Action> {
    relay.setGate(() => 'pass');
    child = startRunChild(env(25));
    await child.ready();
    return waitFor(async () => {
      const a = await finishedFile('failed');
      return a?.recovery ? a : undefined;
    }, { what: 'the recovery recorded on the failed action', timeoutMs: 30_000 });
  }

  /** …and the old container is back, running, nothing parked; then a stop takes under 5 s. */
  async function restartAndRecover(oldId: string): Promise<Action> {
    const failed = await startAndAwaitRecovery();
    const info = await docker.getContainer(app()).inspect();
    expect(info.Id).toBe(oldId);
    expect(info.State.Running).toBe(true);
    expect(await parked()).toEqual([]);
    const sent = Date.now();
    child.proc.kill('SIGTERM');
    const { code, at } = await child.exited;
    child = undefined;
    expect(code).toBe(0);
    expect(at - sent).toBeLessThan(5000);
    return failed;
  }

  it('SIGTERM and the grace runs out: failed "interrupted" with the steps done; the next start puts the old container back', async () => {
    const oldId = await holdAtCreate(2);
    const sent = Date.now();
    child!.proc.kill('SIGTERM');
    const { code, at } = await child!.exited;
    const out = child!.output();
    child = undefined;
    expect(code, out).toBe(0);
    expect(at - sent).toBeGreaterThanOrEqual(1900);
    expect(at - sent).toBeLessThan(5000);
    const failed = await finishedFile('failed');
    expect(failed?.error).toMatch(/^interrupted: the control plane stopped and SHUTDOWN_GRACE_S \(2 s\) ran out; done so far: stopped .*; renamed it to .*-hcp-old-/);
    expect((failed?.result as { steps_done: string[] }).steps_done).toHaveLength(2);
    expect(JSON.parse(await readFile(path.join(l.state, 'interrupted-redeploys.json'), 'utf8'))).toEqual([{ id: ID, instance: failed!.instance, node: NODE, containers: [app()] }]);
    // The held create never reaches the engine: the relay drops it with the process gone.
    relay.drop();
    const after = await restartAndRecover(oldId);
    expect(after.recovery).toMatchObject({ done: [`put back ${app()} from ${app()}-hcp-old-${oldId.slice(0, 8)} and started it`] });
    expect(JSON.parse(await readFile(path.join(l.state, 'interrupted-redeploys.json'), 'utf8'))).toEqual([]);
  });

  it('SIGKILL between the rename and the start of the new container: the next start fails the action and puts the old container back', async () => {
    const oldId = await holdAtCreate(25);
    await kill9();
    // The killed process's create never reaches the engine.
    relay.drop();
    expect(await finishedFile('failed')).toBeUndefined();
    const after = await restartAndRecover(oldId);
    expect(after.error).toBe('interrupted');
    expect(after.recovery).toMatchObject({ done: [`put back ${app()} from ${app()}-hcp-old-${oldId.slice(0, 8)} and started it`] });
  });

  it('SIGKILL after the new container was created, before it started: the new one is removed and the old one put back', async () => {
    const oldId = await holdAt((method, p) => method === 'POST' && /^\/containers\/[^/]+\/start$/.test(p), 'the start of the new container held', 25);
    await kill9();
    relay.setGate(() => 'pass');
    const after = await restartAndRecover(oldId);
    expect(after.recovery).toMatchObject({ done: [expect.stringMatching(/^removed the new .* it never came up$/), `put back ${app()} from ${app()}-hcp-old-${oldId.slice(0, 8)} and started it`] });
  });

  it('SIGKILL after the new container runs, before the old one was removed: the next start removes the old one', async () => {
    const oldId = await holdAt((method, p) => method === 'DELETE' && p.startsWith('/containers/'), 'the removal of the old container held', 25);
    await kill9();
    const failed = await startAndAwaitRecovery();
    expect(failed.recovery).toMatchObject({ done: [`removed ${app()}-hcp-old-${oldId.slice(0, 8)}: the new ${app()} runs`] });
    const info = await docker.getContainer(app()).inspect();
    expect(info.Id).not.toBe(oldId);
    expect(info.State.Running).toBe(true);
    expect(await parked()).toEqual([]);
  });

  it('SIGTERM while a step is under way that finishes within the grace: the redeploy completes, then the process exits', async () => {
    const oldId = (await docker.getContainer(app()).inspect()).Id;
    relay.setGate((method, p) => (method === 'POST' && p === '/containers/create' ? { delayMs: 1500 } : 'pass'));
    child = startRunChild(env(20));
    await child.ready();
    await approvedRedeploy();
    await waitFor(async () => (await parked()).length === 1, { what: 'the old container parked', timeoutMs: 30_000 });
    child.proc.kill('SIGTERM');
    const { code } = await child.exited;
    child = undefined;
    expect(code).toBe(0);
    const done = await finishedFile('completed');
    expect(done?.state).toBe('completed');
    const info = await docker.getContainer(app()).inspect();
    expect(info.Id).not.toBe(oldId);
    expect(info.State.Running).toBe(true);
    expect(await parked()).toEqual([]);
  });
});
