// The executor against the real Docker Engine that .ci/run starts.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Action } from '../../src/domain/actions.js';
import type { ActionDraft } from '../../src/domain/plan.js';
import type { DesiredState, World } from '../../src/domain/schemas.js';
import { loadConfig } from '../../src/config.js';
import { Executor } from '../../src/loops/executor.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { ActionStore } from '../../src/store/actions.js';
import { appendEvents, cliPath, memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled, TEST_IMAGE, TEST_LABEL } from '../support/docker.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'testnode';

let root: string;
let store: ActionStore;
let docker: Docker;
const images: string[] = [];
const volumes: string[] = [];
const networks: string[] = [];

function cname(s: string): string {
  return `hcp-${runId}-${s}`;
}

function makeContainer(name: string, opts: Partial<Docker.ContainerCreateOptions> = {}, start = true): Promise<Docker.Container> {
  return makeTestContainer(docker, runId, name, opts, start);
}

function desiredFor(services: Record<string, string[]>, socket = '/var/run/docker.sock'): DesiredState {
  return {
    [NODE]: {
      node: NODE,
      // disk_cleanup must never reach what this run did not create.
      docker: { socket, prune_label: `${TEST_LABEL}=${runId}` },
      services: Object.fromEntries(Object.entries(services).map(([s, containers]) => [s, { node: NODE, service: s, containers, monitor: true, auto_approve: false }])),
    },
  };
}

function draft(type: ActionDraft['type'], service: string | null): ActionDraft {
  const id = type === 'disk_cleanup' ? `disk-cleanup-${NODE}` : `${type === 'redeploy' ? 'redeploy' : 'container-restart'}-${NODE}-${service}`;
  return { id, instance: '20260527T140000Z', type, risk: type === 'container_restart' ? 'low' : 'guarded', node: NODE, service, drift: 'unhealthy_service', trigger: 'test', containers: [], drift_since: null };
}

async function approve(d: ActionDraft): Promise<Action> {
  const a = await store.create(d);
  return store.transition({ id: a!.id, from: 'pending', to: 'approved', by: 'test' });
}

function executor(desired: DesiredState, world: World = { services: {}, nodes: {} }, over: { verifyAfterS?: number; timeoutS?: number } = {}) {
  const mem = memoryLogger();
  const ex = new Executor({
    actions: store,
    desired: () => desired,
    world: () => world,
    log: mem.log,
    now: Date.now,
    actionTimeoutS: over.timeoutS ?? 60,
    verifyAfterS: over.verifyAfterS ?? 120,
  });
  return { ex, mem };
}

async function finished(id: string, state: 'completed' | 'failed'): Promise<Action> {
  const names = (await readdir(store.dir(state))).filter((n) => n.startsWith(`${id}@`));
  expect(names).toHaveLength(1);
  return JSON.parse(await readFile(path.join(store.dir(state), names[0]!), 'utf8'));
}

describe.skipIf(!run)('executor on a real Docker Engine', () => {
  beforeEach(async () => {
    docker = probe.docker!;
    root = await tempDir('hcp-exec-');
    store = new ActionStore(path.join(root, 'actions'));
    await store.ensureDirs();
  });
  afterEach(async () => {
    await removeLabelled(docker, runId);
    await removeDir(root);
  });
  afterAll(async () => {
    if (!docker) return;
    await removeLabelled(docker, runId);
    for (const n of networks) await docker.getNetwork(n).remove().catch(() => {});
    for (const v of volumes) await docker.getVolume(v).remove().catch(() => {});
    for (const i of images) await docker.getImage(i).remove({ force: true }).catch(() => {});
  });

  it('container_restart brings a stopped container back and records what it did', async () => {
    const c = await makeContainer(cname('z2m'));
    await c.stop({ t: 1 });
    const a = await approve(draft('container_restart', 'zigbee2mqtt'));
    const { ex } = executor(desiredFor({ zigbee2mqtt: [cname('z2m')] }));
    await ex.pass();
    await ex.idle();
    const done = await finished(a.id, 'completed');
    expect((await c.inspect()).State.Running).toBe(true);
    expect(done.result).toEqual({
      containers: [expect.objectContaining({ container: cname('z2m'), old_state: 'exited', new_state: 'running', ms: expect.any(Number) })],
    });
    expect(done.started_at).toBeDefined();
    expect(done.finished_at).toBeDefined();
    expect(done.history.map((h) => h.state)).toEqual(['pending', 'approved', 'running', 'completed']);
  });

  it('container_restart fails clearly when a container is missing, touching nothing', async () => {
    const c = await makeContainer(cname('mosq'));
    await c.stop({ t: 1 });
    const a = await approve(draft('container_restart', 'mosquitto'));
    const { ex } = executor(desiredFor({ mosquitto: [cname('mosq'), cname('missing')] }));
    await ex.pass();
    await ex.idle();
    expect((await finished(a.id, 'failed')).error).toBe(`container ${cname('missing')} not found`);
    expect((await c.inspect()).State.Running).toBe(false);
  });

  it('redeploy recreates with env, labels, bind mount, 127.0.0.1 port, restart policy and network alias', async () => {
    const netName = `hcp-${runId}-net`;
    await docker.createNetwork({ Name: netName, Labels: { [TEST_LABEL]: runId } });
    networks.push(netName);
    const bind = path.join(root, 'data');
    await mkdir(bind);
    await writeFile(path.join(bind, 'hello'), 'kept');
    const port = await freePort();
    const old = await makeContainer(cname('web'), {
      Env: ['MODE=test', 'TOKEN_FILE=/data/hello'],
      Labels: { [TEST_LABEL]: runId, 'com.example.role': 'web' },
      Cmd: ['httpd', '-f', '-p', '80', '-h', '/www'],
      ExposedPorts: { '80/tcp': {} },
      HostConfig: {
        Init: true,
        Binds: [`${bind}:/data`],
        PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] },
        RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
        NetworkMode: netName,
      },
      NetworkingConfig: { EndpointsConfig: { [netName]: { Aliases: ['webalias'] } } },
    });
    const oldId = (await old.inspect()).Id;
    const a = await approve(draft('redeploy', 'web'));
    const { ex } = executor(desiredFor({ web: [cname('web')] }));
    await ex.pass();
    await ex.idle();
    const done = await finished(a.id, 'completed');
    const info = await docker.getContainer(cname('web')).inspect();
    expect(info.Id).not.toBe(oldId);
    expect(info.State.Running).toBe(true);
    expect(info.Config.Env).toEqual(expect.arrayContaining(['MODE=test', 'TOKEN_FILE=/data/hello']));
    expect(info.Config.Labels).toMatchObject({ 'com.example.role': 'web' });
    expect(info.HostConfig.Binds).toEqual([`${bind}:/data`]);
    expect(info.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    expect(info.HostConfig.RestartPolicy).toMatchObject({ Name: 'unless-stopped' });
    expect(info.NetworkSettings.Networks[netName]!.Aliases).toContain('webalias');
    expect(done.result).toEqual({
      containers: [expect.objectContaining({ container: cname('web'), old_id: oldId.slice(0, 12), new_id: info.Id.slice(0, 12), image: TEST_IMAGE, pulled: false })],
    });
    // The old container is gone, and the service answers on its port.
    expect((await docker.listContainers({ all: true, filters: { id: [oldId] } })).length).toBe(0);
    const body = await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`)).text(), { what: 'httpd on the published port' });
    expect(body.trim()).toBe('ok');
    const logs = spawnSync('docker', ['exec', cname('web'), 'cat', '/data/hello'], { encoding: 'utf8' });
    expect(logs.stdout).toBe('kept');
  });

  it('redeploy whose new container cannot start puts the old one back, running, and fails with the reason', async () => {
    const tag = `homelab-test/hcp-${runId}-app:1`;
    execFileSync('docker', ['tag', TEST_IMAGE, tag]);
    images.push(tag);
    const old = await makeContainer(cname('app'), { Image: tag });
    const oldId = (await old.inspect()).Id;
    // The image behind the tag is replaced by one that cannot run anything (a broken release).
    const broken = path.join(root, 'broken');
    await mkdir(broken);
    await writeFile(path.join(broken, 'README'), 'no binaries here');
    execFileSync('sh', ['-c', `tar -C ${broken} -c . | docker import - ${tag}`]);
    const a = await approve(draft('redeploy', 'app'));
    const { ex } = executor(desiredFor({ app: [cname('app')] }));
    await ex.pass();
    await ex.idle();
    const failed = await finished(a.id, 'failed');
    expect(failed.error).toMatch(new RegExp(`^new ${cname('app')} did not start \\(.+\\); the old container was put back and started$`));
    const info = await docker.getContainer(cname('app')).inspect();
    expect(info.Id).toBe(oldId);
    expect(info.State.Running).toBe(true);
    const all = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${runId}`] } });
    expect(all.map((c) => c.Names[0])).toEqual([`/${cname('app')}`]);
  });

  it('disk_cleanup with prune_label removes a labelled dangling image and stopped container, keeps running ones, volumes and the build cache', async () => {
    const running = await makeContainer(cname('keep'));
    const stopped = await makeContainer(cname('gone'), {}, false);
    const vol = `hcp-${runId}-vol`;
    await docker.createVolume({ Name: vol, Labels: { [TEST_LABEL]: runId } });
    volumes.push(vol);
    const tag = `homelab-test/hcp-${runId}-dangling:1`;
    const d = path.join(root, 'img');
    await mkdir(d);
    await writeFile(path.join(d, 'f'), randomBytes(64 * 1024));
    // Built (not imported) so that the image carries this run's label.
    await writeFile(path.join(d, 'Dockerfile'), `FROM ${TEST_IMAGE}\nLABEL ${TEST_LABEL}=${runId}\nCOPY f /f\n`);
    execFileSync('docker', ['build', '-q', '-t', tag, d], { stdio: 'pipe' });
    const danglingId = (await docker.getImage(tag).inspect()).Id;
    execFileSync('docker', ['tag', TEST_IMAGE, tag]); // the built image loses its only tag
    images.push(tag);
    const a = await approve(draft('disk_cleanup', null));
    const { ex } = executor(desiredFor({}));
    await ex.pass();
    await ex.idle();
    const done = await finished(a.id, 'completed');
    const result = done.result as { containers: { removed: number }; images: { removed: number; bytes: number }; build_cache: { skipped?: string }; bytes_total: number; label?: string };
    expect(result.label).toBe(`${TEST_LABEL}=${runId}`);
    expect(result.containers.removed).toBe(1);
    expect(result.images.removed).toBeGreaterThanOrEqual(1);
    expect(result.bytes_total).toBeGreaterThan(60 * 1024);
    expect(result.build_cache.skipped).toMatch(/no label filter/);
    await expect(docker.getImage(danglingId).inspect()).rejects.toThrow();
    await expect(stopped.inspect()).rejects.toThrow();
    expect((await running.inspect()).State.Running).toBe(true);
    expect((await docker.getVolume(vol).inspect()).Name).toBe(vol);
    expect(done.verify_until).toBeUndefined();
  });

  it('an unreachable engine fails the action with a clear error, and the next action still runs', async () => {
    const c = await makeContainer(cname('next'));
    await c.stop({ t: 1 });
    const desired: DesiredState = {
      ...desiredFor({ next: [cname('next')] }),
      ghost: { node: 'ghost', docker: { socket: path.join(root, 'no-such.sock') }, services: { svc: { node: 'ghost', service: 'svc', containers: ['svc'], monitor: true, auto_approve: false } } },
    };
    const bad = await approve({ ...draft('container_restart', 'svc'), id: 'container-restart-ghost-svc', node: 'ghost' });
    const good = await approve(draft('container_restart', 'next'));
    const { ex } = executor(desired);
    await ex.pass();
    await ex.idle();
    expect((await finished(bad.id, 'failed')).error).toMatch(/cannot reach ghost's Docker Engine at unix:\/\/.*no-such\.sock: the socket does not exist/);
    await finished(good.id, 'completed');
    expect((await c.inspect()).State.Running).toBe(true);
  });

  it('refuses a service that services.yaml does not name', async () => {
    const c = await makeContainer(cname('other'));
    await c.stop({ t: 1 });
    const a = await approve(draft('container_restart', 'other'));
    const { ex } = executor(desiredFor({ zigbee2mqtt: [cname('z2m')] }));
    await ex.pass();
    await ex.idle();
    expect((await finished(a.id, 'failed')).error).toMatch(/^refused: service other is not in hosts\/testnode\/services.yaml/);
    expect((await c.inspect()).State.Running).toBe(false);
    expect(ex.stats.dockerCalls).toBe(0);
  });

  it('an action found in running/ at start fails as interrupted and is not re-run', async () => {
    const c = await makeContainer(cname('intr'));
    await c.stop({ t: 1 });
    const a = await approve(draft('container_restart', 'intr'));
    await store.transition({ id: a.id, from: 'approved', to: 'running', by: 'executor' });
    const { ex } = executor(desiredFor({ intr: [cname('intr')] }));
    await ex.init();
    await ex.pass();
    await ex.idle();
    expect((await finished(a.id, 'failed')).error).toBe('interrupted');
    expect(ex.stats.dockerCalls).toBe(0);
    expect((await c.inspect()).State.Running).toBe(false);
  });
});

describe.skipIf(!run)('end to end: drift → pending → approve (CLI) → running → verified', () => {
  let e2eRoot: string;
  let running: Running | undefined;
  afterEach(async () => {
    await running?.stop();
    await removeLabelled(probe.docker!, runId);
    await removeDir(e2eRoot);
  });

  it('fixes a stopped container and records verified: true', async () => {
    docker = probe.docker!;
    e2eRoot = await tempDir('hcp-e2e-');
    const hosts = path.join(e2eRoot, 'hosts');
    const home = path.join(e2eRoot, 'homelab');
    const c = await makeContainer(cname('zigbee2mqtt'));
    await writeHosts(hosts, { [NODE]: `docker:\n  socket: /var/run/docker.sock\nservices:\n  zigbee2mqtt:\n    containers: [${cname('zigbee2mqtt')}]\n` });
    running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: home, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600' }), memoryLogger().log);
    await c.stop({ t: 1 });
    const ts = () => new Date().toISOString();
    await appendEvents(home, [{ ts: ts(), node: NODE, type: 'containers_not_running', service: 'zigbee2mqtt' }]);
    const id = `container-restart-${NODE}-zigbee2mqtt`;
    await waitFor(async () => (await readdir(path.join(home, 'actions', 'pending'))).includes(`${id}.json`), { what: 'pending action' });
    const r = spawnSync(process.execPath, [cliPath, 'actions', 'approve', id, '--by', 'e2e'], { env: { PATH: process.env.PATH, HOMELAB_ROOT: home, HOSTS_DIR: hosts }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    await waitFor(async () => (await c.inspect()).State.Running, { timeoutMs: 30_000, what: 'container running again' });
    const completedDir = path.join(home, 'actions', 'completed');
    await waitFor(async () => (await readdir(completedDir)).some((n) => n.startsWith(`${id}@`)), { what: 'completed action' });
    await appendEvents(home, [{ ts: ts(), node: NODE, type: 'service_healthy', service: 'zigbee2mqtt' }]);
    const done = await waitFor(
      async () => {
        const [name] = (await readdir(completedDir)).filter((n) => n.startsWith(`${id}@`));
        const a = JSON.parse(await readFile(path.join(completedDir, name!), 'utf8'));
        return a.verified === true ? a : undefined;
      },
      { what: 'verified: true' },
    );
    expect(done).toMatchObject({ state: 'completed', approved_by: { via: 'cli', name: 'e2e' }, verified: true, verification: { verified: true } });
  });

  it('restarted but still unhealthy is recorded as verified: false', async () => {
    docker = probe.docker!;
    e2eRoot = await tempDir('hcp-e2e-');
    store = new ActionStore(path.join(e2eRoot, 'actions'));
    await store.ensureDirs();
    const c = await makeContainer(cname('flaky'));
    await c.stop({ t: 1 });
    const world: World = { services: {}, nodes: {} };
    const a = await approve(draft('container_restart', 'flaky'));
    const { ex } = executor(desiredFor({ flaky: [cname('flaky')] }), world, { verifyAfterS: 1 });
    await ex.pass();
    await ex.idle();
    const completed = await finished(a.id, 'completed');
    expect(completed.verified).toBeUndefined();
    const verified = await waitFor(
      async () => {
        await ex.checkVerifications();
        const v = await finished(a.id, 'completed');
        return v.verified === false ? v : undefined;
      },
      { what: 'verified: false' },
    );
    expect((verified.verification as { note: string }).note).toMatch(/^restarted but still unhealthy/);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
