// An agent that cannot reach its node's Docker Engine says so in its heartbeats. The control
// plane makes that a state of its own: the node's engine is "unreachable", its services are
// "unknown" (not missing), nothing is proposed for them, one notice is open until the engine is
// back, and every reader — world files, the mirror's validation, /summary, the page, /metrics —
// shows it. And a node coming up does not flood proposals for services not reported yet.
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { controlPlaneFixture, type ControlPlaneFixture } from '../support/control-plane.js';
import { WorldNodesFile, WorldServicesFile } from '../../src/domain/schemas.js';
import type { Running } from '../../src/main.js';
import type { Layout } from '../../src/store/paths.js';
import { appendEvents, cliPath, waitFor, writeHosts, type Ev } from '../support/helpers.js';

let f: ControlPlaneFixture;
let root: string;
let l: Layout;

beforeEach(async () => {
  f = await controlPlaneFixture('hcp-engine-');
  ({ root, l } = f);
});
afterEach(async () => {
  await f.cleanup();
});

const start = (env: Record<string, string>) => f.start({ RECONCILE_INTERVAL_S: '1', ...env });

/** Lets the supervisor pass twice more (on its 1 s interval): what it would propose, it has. */
async function twoMorePasses(r: Running): Promise<void> {
  const passes = r.loops.supervisor.status.passes;
  await waitFor(() => r.loops.supervisor.status.passes >= passes + 2, { what: 'two more supervisor passes' });
}
const actionFiles = async () => (await Promise.all(['pending', 'approved', 'running', 'completed', 'failed', 'rejected', 'cancelled'].map((s) => readdir(l.actionDir(s as never))))).flat().filter((n) => !n.startsWith('.'));
const hb = (engine: string): Ev => ({ ts: new Date().toISOString(), node: 'n1', type: 'node_heartbeat', detail: { engine } });
const readJson = async (f: string) => JSON.parse(await readFile(f, 'utf8'));

describe('engine unreachable', () => {
  it('services unknown, nothing proposed, one notice; every reader shows it; closed when the engine is back', async () => {
    await writeHosts(path.join(root, 'hosts'), { n1: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  a: {}\n  b: {}\n  c: {}\n' });
    // No grace: only the engine state may keep "missing" services from being proposed.
    const r = await start({ MISSING_GRACE_S: '0' });
    await appendEvents(l.root, [{ ts: new Date().toISOString(), node: 'n1', type: 'service_healthy', service: 'a' }, hb('unreachable')]);
    const services = await waitFor(async () => {
      const s = await readJson(path.join(l.world, 'services.json'));
      return Object.keys(s).length === 3 && Object.values(s).every((x) => (x as { status: string }).status === 'unknown') ? s : undefined;
    }, { what: 'three unknown services' });
    expect(services['n1/a']).toMatchObject({ status: 'unknown', reason: 'engine_unreachable' });
    // The mirror's validation reads these files as they are.
    expect(WorldServicesFile.safeParse(services).success).toBe(true);
    // Each world file is written whole, one after another: the nodes file of the same publish
    // may land a moment later (docs/design/observer.md).
    const nodes = await waitFor(async () => {
      const n = await readJson(path.join(l.world, 'nodes.json'));
      return n.n1?.engine === 'unreachable' ? n : undefined;
    }, { what: 'engine unreachable in nodes.json' });
    expect(WorldNodesFile.safeParse(nodes).success).toBe(true);
    expect(nodes.n1).toMatchObject({ engine: 'unreachable', engine_since: expect.any(String), agent: 'alive' });
    const notice = await waitFor(async () => (await r.supervisorState.notices()).find((n) => n.key === 'engine-unreachable-n1' && n.state === 'open'), { what: 'the notice' });
    expect(notice.message).toMatch(/cannot reach its Docker Engine/);
    // Several passes later: still nothing proposed.
    await twoMorePasses(r);
    expect(await actionFiles()).toEqual([]);

    const base = r.address;
    const summary = await (await fetch(`${base}/summary`)).json();
    expect(summary.nodes.find((n: { node: string }) => n.node === 'n1')).toMatchObject({ engine: 'unreachable', services: { unknown: 3, healthy: 0 } });
    expect(summary.services).toMatchObject({ unknown: 3, unhealthy: 0, missing: 0 });
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toMatch(/<span class="pill badtxt">engine unreachable<\/span>/);
    expect(page).toMatch(/<span class="pill warntxt">3 unknown<\/span>/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('homelab_node_engine_up{node="n1"} 0');
    expect(metrics).toContain('homelab_world_services{status="unknown"} 3');

    await appendEvents(l.root, [{ ts: new Date().toISOString(), node: 'n1', type: 'service_healthy', service: 'b' }, { ts: new Date().toISOString(), node: 'n1', type: 'service_healthy', service: 'c' }, hb('ok')]);
    await waitFor(async () => (await r.supervisorState.notices()).find((n) => n.key === 'engine-unreachable-n1')?.state === 'closed', { what: 'the notice closed' });
    // The supervisor reads the world in memory; its files follow within PERSIST_MS.
    await waitFor(async () => {
      const s = Object.values(await readJson(path.join(l.world, 'services.json')));
      return s.length === 3 && s.every((x) => (x as { status: string }).status === 'healthy');
    }, { what: 'three healthy services in services.json' });
    expect(await actionFiles()).toEqual([]);
  });
});

describe('the real agent with no engine', () => {
  it('`control-plane agent --once` against a missing socket reports the engine unreachable, and the control plane proposes nothing', async () => {
    await writeHosts(path.join(root, 'hosts'), { n1: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  a: {}\n  b: {}\n' });
    const r = await start({ MISSING_GRACE_S: '0' });
    const agent = spawnSync(process.execPath, [cliPath, 'agent', '--node', 'n1', '--once', '--docker-socket', path.join(root, 'no-engine.sock'), '--events-dir', l.events, '--state-dir', path.join(root, 'agent')], {
      env: { PATH: process.env.PATH, HOSTS_DIR: path.join(root, 'hosts'), HOMELAB_ROOT: l.root, LOG_LEVEL: 'error' },
      encoding: 'utf8',
    });
    expect(agent.status, agent.stderr).toBe(0);
    await waitFor(async () => (await readJson(path.join(l.world, 'nodes.json'))).n1?.engine === 'unreachable', { what: 'engine unreachable in nodes.json' });
    const services = await waitFor(async () => {
      const s = await readJson(path.join(l.world, 'services.json'));
      return Object.keys(s).length === 2 ? s : undefined;
    }, { what: 'both services in services.json' });
    expect(Object.values(services).map((x) => (x as { status: string }).status)).toEqual(['unknown', 'unknown']);
    await twoMorePasses(r);
    expect(await actionFiles()).toEqual([]);
  });
});

describe('a node coming up', () => {
  it('30 services reported one line at a time: no proposal for the ones not reported yet (MISSING_GRACE_S)', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `s${i}`);
    await writeHosts(path.join(root, 'hosts'), { n1: `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${names.map((n) => `  ${n}: {}`).join('\n')}\n` });
    const r = await start({});
    expect(loadConfig({ RECONCILE_INTERVAL_S: '1' }).missingGraceS).toBe(60);
    for (const n of names) {
      await appendEvents(l.root, [{ ts: new Date().toISOString(), node: 'n1', type: 'service_healthy', service: n }]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(async () => Object.keys(await readJson(path.join(l.world, 'services.json'))).length === 30, { what: 'all 30 reported' });
    await twoMorePasses(r);
    expect(await actionFiles()).toEqual([]);
  });

  it('"Try it by hand": one containers_not_running for a new node gives its restart and nothing for the others', async () => {
    await writeHosts(path.join(root, 'hosts'), { 'chelsty-infra': 'services:\n  zigbee2mqtt:\n    containers: [zigbee2mqtt]\n  mosquitto: {}\n' });
    const r = await start({});
    await appendEvents(l.root, [{ ts: new Date().toISOString(), node: 'chelsty-infra', type: 'containers_not_running', service: 'zigbee2mqtt' }]);
    await waitFor(async () => (await actionFiles()).length > 0, { what: 'a proposal' });
    await twoMorePasses(r);
    expect(await actionFiles()).toEqual(['container-restart-chelsty-infra-zigbee2mqtt.json']);
  });
});
