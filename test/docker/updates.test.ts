// Image updates end to end on real parts: Debian's docker-registry on a loopback port, images
// pushed into it by the real dockerd, a container running v1; the control plane checks, proposes,
// updates to exactly the approved digest, verifies, rolls back a bad version and remembers it.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../../src/domain/actions.js';
import { shortDigest } from '../../src/domain/image-ref.js';
import type { DesiredState } from '../../src/domain/schemas.js';
import { registryAuth, RegistryClient } from '../../src/docker/registry.js';
import { UpdateChecker } from '../../src/loops/updates.js';
import { UpdatesStore } from '../../src/store/updates.js';
import { layout } from '../../src/store/paths.js';
import { controlPlaneFixture, type ControlPlaneFixture } from '../support/control-plane.js';
import { dockerOrSkip, probeDocker, removeLabelled, TEST_IMAGE, TEST_LABEL } from '../support/docker.js';
import { cliPath, memoryLogger, removeDir, tempDir, waitFor } from '../support/helpers.js';
import { dockerCli, freePort, registryMissing, removeImagesMarked, startRegistry, type TestRegistry } from '../support/registry.js';

const probe = await probeDocker();
const dockerOk = dockerOrSkip(probe);
const missing = dockerOk ? registryMissing() : undefined;
if (missing && process.env.CI === 'true') throw new Error(`the registry tests need ${missing}`);
if (missing) console.warn(`skipping image update tests: ${missing}`);
const run = dockerOk && !missing;

const runId = randomBytes(4).toString('hex');
const NODE = 'updnode';
const CONTAINER = `hcp-${runId}-app`;
// The container dies at once in an image that has /broken: a version that cannot start.
const CMD = ['sh', '-c', 'test ! -e /broken && exec sleep 3600'];

let docker: Docker;
let dir: string;
let dockerConfig: string;
let reg: TestRegistry;
let repo: string;
const madeImages = new Set<string>();

function cli(args: string[], f: ControlPlaneFixture) {
  return spawnSync(process.execPath, [cliPath, ...args], { env: { PATH: process.env.PATH, HOMELAB_ROOT: f.l.root, HOSTS_DIR: f.hosts }, encoding: 'utf8', timeout: 60_000 });
}

/** Builds an image FROM `from` with extra Dockerfile lines (no network); returns its id. */
function build(from: string, lines: string[]): string {
  const tag = `${repo}:build-${madeImages.size}`;
  dockerCli(['build', '-q', '-t', tag, '-'], { input: [`FROM ${from}`, `LABEL ${TEST_LABEL}=${runId}`, ...lines].join('\n'), dockerConfig });
  madeImages.add(tag);
  return dockerCli(['image', 'inspect', '--format', '{{.Id}}', tag], { dockerConfig });
}

/** Pushes image `id` as `name:tag`; returns the digest the registry now gives for the tag. */
function push(id: string, name: string, tag: string): string {
  dockerCli(['tag', id, `${name}:${tag}`], { dockerConfig });
  madeImages.add(`${name}:${tag}`);
  const out = dockerCli(['push', `${name}:${tag}`], { dockerConfig });
  const m = /digest: (sha256:[0-9a-f]{64})/.exec(out);
  if (!m) throw new Error(`no digest in push output: ${out}`);
  return m[1]!;
}

async function containerImage(): Promise<string> {
  return (await docker.getContainer(CONTAINER).inspect()).Image;
}

async function makeContainer(image: string): Promise<void> {
  await docker.getContainer(CONTAINER).remove({ force: true }).catch(() => {});
  const c = await docker.createContainer({ Image: image, name: CONTAINER, Cmd: CMD, Labels: { [TEST_LABEL]: runId }, HostConfig: { Init: true } });
  await c.start();
}

const hostsYaml = () => `docker:\n  socket: /var/run/docker.sock\n  prune_label: ${TEST_LABEL}=${runId}\n  updates: approve\nservices:\n  app:\n    containers: [${CONTAINER}]\n`;

describe.skipIf(!run)('image updates against a real registry and engine', () => {
  let f: ControlPlaneFixture;
  let v1Id: string;
  let v1Digest: string;
  let v2Id: string;
  let v2Digest: string;

  beforeAll(async () => {
    docker = probe.docker!;
    dir = await tempDir('hcp-updates-');
    dockerConfig = path.join(dir, 'docker-config');
    spawnSync('mkdir', ['-p', dockerConfig]);
    reg = await startRegistry(path.join(dir, 'registry'));
    repo = `${reg.host}/demo/app-${runId}`;
    v1Id = dockerCli(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE], { dockerConfig });
    v1Digest = push(v1Id, repo, 'stable');
    await makeContainer(`${repo}:stable`);
    // v2: one more layer and OCI labels, pushed under the same tag; the node keeps running v1
    // and does not have v2 (so the update really pulls it).
    v2Id = build(`${repo}:stable`, ['RUN echo v2 > /version', 'LABEL org.opencontainers.image.version=2.0.0 org.opencontainers.image.source=https://example.test/demo/app']);
    v2Digest = push(v2Id, repo, 'stable');
    dockerCli(['tag', v1Id, `${repo}:stable`], { dockerConfig });
    // Untagged, v2 is gone from the node (it has no container).
    for (const t of [...madeImages].filter((x) => x.includes(':build-'))) dockerCli(['rmi', t], { dockerConfig });
    expect(spawnSync('docker', ['image', 'inspect', v2Id]).status).not.toBe(0);
    f = await controlPlaneFixture('hcp-upd-e2e-', { [NODE]: hostsYaml() });
    await f.start({ VERIFY_AFTER_S: '2', ACTION_TIMEOUT_S: '60' });
    await healthy();
  }, 180_000);

  afterAll(async () => {
    await f?.cleanup();
    if (docker) await removeLabelled(docker, runId);
    if (docker) await removeImagesMarked(docker, runId);
    await reg?.stop();
    if (dir) await removeDir(dir);
  });

  /** The node's agent says the service is healthy now. */
  async function healthy(): Promise<void> {
    const ts = new Date().toISOString();
    await f.events([
      { ts, node: NODE, type: 'node_heartbeat', detail: { engine: 'reachable' } },
      { ts, node: NODE, type: 'service_healthy', service: 'app' },
    ]);
    await f.pass('observer');
  }

  async function pendingUpdate(): Promise<Action> {
    const id = `image-update-${NODE}-app`;
    await waitFor(async () => (await f.files('pending')).includes(`${id}.json`), { timeoutMs: 15_000, what: `${id} pending` });
    return JSON.parse(await readFile(path.join(f.l.actionDir('pending'), `${id}.json`), 'utf8')) as Action;
  }

  async function finished(state: 'completed' | 'failed', instance: string): Promise<Action> {
    const name = `image-update-${NODE}-app@${instance}.json`;
    await waitFor(async () => (await f.files(state)).includes(name), { timeoutMs: 60_000, what: `${name} in ${state}/` });
    return JSON.parse(await readFile(path.join(f.l.actionDir(state), name), 'utf8')) as Action;
  }

  it('check → image_update_available with both digests → pending → approve → the container runs v2, verified', async () => {
    const check = cli(['updates', 'check', `${NODE}/app`], f);
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(check.stdout).toContain('image_update_available');
    expect(check.stdout).toContain(shortDigest(v1Digest));
    expect(check.stdout).toContain(shortDigest(v2Digest));
    const entry = JSON.parse(await readFile(path.join(f.l.world, 'updates.json'), 'utf8'))[`${NODE}/app`];
    expect(entry.images[0]).toMatchObject({ image: `${repo}:stable`, tag: 'stable', local_digest: v1Digest, remote_digest: v2Digest, status: 'image_update_available', version: '2.0.0', source: 'https://example.test/demo/app' });
    expect(Date.parse(entry.images[0].created)).toBeGreaterThan(0);

    // The running control plane sees the file change and proposes at once.
    const a = await pendingUpdate();
    expect(a).toMatchObject({ type: 'image_update', risk: 'guarded', drift: 'outdated_image', trigger: 'image_update_available', containers: [CONTAINER] });
    expect(a.update!.images[0]).toMatchObject({ image: `${repo}:stable`, from_digest: v1Digest, to_digest: v2Digest, version: '2.0.0' });

    const approve = cli(['actions', 'approve', a.id, '--yes', '--by', 'test'], f);
    expect(approve.status, approve.stderr).toBe(0);
    const done = await finished('completed', a.instance);
    expect(done.verified).toBe(true);
    expect(done.verification?.note).toMatch(/kept running for 2 s/);
    expect(await containerImage()).toBe(v2Id);
    // The configuration still names the tag, and the tag now names v2.
    expect((await docker.getContainer(CONTAINER).inspect()).Config.Image).toBe(`${repo}:stable`);
    expect((await docker.getImage(`${repo}:stable`).inspect()).Id).toBe(v2Id);
    // The old image is no longer tagged: left for disk_cleanup.
    expect((await docker.getImage(v1Id).inspect()).RepoTags ?? []).not.toContain(`${repo}:stable`);
    // Checked again after the update: up to date, nothing proposed.
    await waitFor(async () => JSON.parse(await readFile(path.join(f.l.world, 'updates.json'), 'utf8'))[`${NODE}/app`].images[0].status === 'up_to_date', { what: 'the re-check after the update' });
  }, 120_000);

  it('a version that exits at once is rolled back: v2 runs again, the digest is not proposed again, v3 is', async () => {
    await healthy();
    const badId = build(`${repo}:stable`, ['RUN touch /broken']);
    const badDigest = push(badId, repo, 'stable');
    dockerCli(['tag', v2Id, `${repo}:stable`], { dockerConfig });
    await f.running.checker.check(`${NODE}/app`);
    const a = await pendingUpdate();
    expect(a.update!.images[0]!.to_digest).toBe(badDigest);
    await f.store().transition({ id: a.id, from: 'pending', to: 'approved', instance: a.instance, by: 'test', patch: { approved_by: { via: 'cli', name: 'test' } } });
    await f.pass('executor');
    const failed = await finished('failed', a.instance);
    expect(failed.rolled_back).toBe(true);
    expect(failed.error).toMatch(new RegExp(`^rolled back to ${shortDigest(v2Digest)}: .*${CONTAINER} exited with code 1`));
    expect(await containerImage()).toBe(v2Id);
    expect((await docker.getContainer(CONTAINER).inspect()).State.Running).toBe(true);
    expect((await docker.getImage(`${repo}:stable`).inspect()).Id).toBe(v2Id);
    const skips = JSON.parse(await readFile(path.join(f.l.state, 'update-skips.json'), 'utf8'));
    expect(skips[`${NODE}/app`]).toEqual([expect.objectContaining({ digest: badDigest, reason: 'rolled_back' })]);

    // The next check finds the same bad digest: not proposed again.
    await healthy();
    await f.running.checker.check(`${NODE}/app`);
    await f.pass('supervisor');
    expect(await f.files('pending')).toEqual([]);

    // A newer version is.
    const v3Id = build(`${repo}@${v2Digest}`, ['RUN echo v3 > /version']);
    const v3Digest = push(v3Id, repo, 'stable');
    dockerCli(['tag', v2Id, `${repo}:stable`], { dockerConfig });
    await f.running.checker.check(`${NODE}/app`);
    const next = await pendingUpdate();
    expect(next.update!.images[0]).toMatchObject({ from_digest: v2Digest, to_digest: v3Digest });
  }, 120_000);

  it('updated by hand (docker pull + recreate outside the control plane): the pending update is cancelled', async () => {
    const a = await pendingUpdate();
    dockerCli(['pull', `${repo}:stable`], { dockerConfig });
    await makeContainer(`${repo}:stable`);
    await healthy();
    await f.running.checker.check(`${NODE}/app`);
    await f.pass('supervisor');
    const cancelled = await waitFor(async () => (await f.files('cancelled')).find((n) => n === `${a.id}@${a.instance}.json`), { what: 'the cancelled update' });
    const c = JSON.parse(await readFile(path.join(f.l.actionDir('cancelled'), cancelled), 'utf8')) as Action;
    expect(c.cancel_reason).toBe('drift_resolved_auto');
  }, 60_000);
});

describe.skipIf(!run)('update checks that cannot succeed: one clear problem per service, nothing proposed', () => {
  let regs: TestRegistry[] = [];
  let cdir: string;
  const names: string[] = [];

  beforeAll(async () => {
    docker = probe.docker!;
    cdir = await tempDir('hcp-updates-bad-');
    dockerConfig = path.join(cdir, 'docker-config');
    spawnSync('mkdir', ['-p', dockerConfig, path.join(cdir, 'world'), path.join(cdir, 'state')]);
  });
  afterAll(async () => {
    if (docker) await removeLabelled(docker, runId);
    if (docker) await removeImagesMarked(docker, runId);
    for (const r of regs) await r.stop();
    regs = [];
    if (cdir) await removeDir(cdir);
  });

  async function serviceOn(r: TestRegistry, name: string, tag = 'stable'): Promise<string> {
    const ref = `${r.host}/demo/${name}-${runId}:${tag}`;
    dockerCli(['tag', TEST_IMAGE, ref], { dockerConfig });

    dockerCli(['push', ref], { dockerConfig });
    const cname = `hcp-${runId}-${name}`;
    names.push(cname);
    const c = await docker.createContainer({ Image: ref, name: cname, Cmd: ['sleep', '3600'], Labels: { [TEST_LABEL]: runId }, HostConfig: { Init: true } });
    await c.start();
    return cname;
  }

  function checker(desired: DesiredState, registry: RegistryClient) {
    return new UpdateChecker({ desired: () => desired, store: new UpdatesStore(layout(cdir)), registry, engineOptions: {}, log: memoryLogger().log, intervalMs: 3600_000 });
  }
  const desiredOf = (services: Record<string, string>): DesiredState => ({
    [NODE]: { node: NODE, docker: { socket: '/var/run/docker.sock' }, services: Object.fromEntries(Object.entries(services).map(([s, c]) => [s, { node: NODE, service: s, containers: [c], monitor: true, auto_approve: false, updates: 'approve' as const }])) },
  });

  it('registry down, tag gone (404), credentials wanted (401) and given (Basic auth on the real registry)', async () => {
    const open = await startRegistry(path.join(cdir, 'open'));
    const locked = await startRegistry(path.join(cdir, 'locked'), { user: 'homelab', password: 's3cret-pass' });
    const doomed = await startRegistry(path.join(cdir, 'doomed'));
    regs.push(open, locked, doomed);
    const gone = await serviceOn(open, 'gone');
    // The tag disappears from the registry: delete its manifest.
    const head = await fetch(`${open.url}/v2/demo/gone-${runId}/manifests/stable`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    const del = await fetch(`${open.url}/v2/demo/gone-${runId}/manifests/${head.headers.get('docker-content-digest')}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    dockerCli(['login', '-u', 'homelab', '--password-stdin', locked.host], { input: 's3cret-pass', dockerConfig });
    const priv = await serviceOn(locked, 'private');
    const down = await serviceOn(doomed, 'down');
    await doomed.stop();
    const desired = desiredOf({ gone, priv, down });

    const anonymous = await checker(desired, new RegistryClient()).check();
    const by = Object.fromEntries(anonymous.map((e) => [e.service, e.images[0]!]));
    expect(by.gone).toMatchObject({ status: 'error', error: expect.stringMatching(/tag stable not found in demo\/gone-/) });
    expect(by.priv).toMatchObject({ status: 'error', error: expect.stringMatching(/wants credentials .*basic auth.* DOCKER_CONFIG has none/) });
    expect(by.down).toMatchObject({ status: 'error', error: expect.stringMatching(/cannot reach 127\.0\.0\.1:\d+: ECONNREFUSED/) });
    for (const e of anonymous) expect(e.images).toHaveLength(1);

    // With the credentials `docker login` wrote (DOCKER_CONFIG), the private one is checked.
    const creds = registryAuth(dockerConfig).credentials;
    expect(creds.get(locked.host)).toEqual({ username: 'homelab', password: 's3cret-pass' });
    const withCreds = await checker(desiredOf({ priv }), new RegistryClient({ credentials: creds })).check();
    expect(withCreds[0]!.images[0]).toMatchObject({ status: 'up_to_date' });
    const wrong = await checker(desiredOf({ priv }), new RegistryClient({ credentials: new Map([[locked.host, { username: 'homelab', password: 'nope' }]]) })).check();
    expect(wrong[0]!.images[0]).toMatchObject({ status: 'error', error: expect.stringMatching(/refused the credentials of homelab .*HTTP 401/) });
  }, 120_000);

  it('an image pinned by digest is never checked; a container that is missing is one problem', async () => {
    const r = await startRegistry(path.join(cdir, 'pinned'));
    regs.push(r);
    const cname = await serviceOn(r, 'pin');
    const digest = (await docker.getImage(`${r.host}/demo/pin-${runId}:stable`).inspect()).RepoDigests!.find((d) => d.startsWith(r.host))!;
    const pinned = `hcp-${runId}-pinned`;
    await (await docker.createContainer({ Image: digest, name: pinned, Cmd: ['sleep', '3600'], Labels: { [TEST_LABEL]: runId }, HostConfig: { Init: true } })).start();
    await r.stop();
    const port = await freePort();
    const entries = await checker(desiredOf({ pinned, nothing: `hcp-${runId}-never-made-${port}` }), new RegistryClient()).check();
    const by = Object.fromEntries(entries.map((e) => [e.service, e]));
    expect(by.pinned!.images[0]).toMatchObject({ status: 'pinned', remote_digest: null });
    expect(by.nothing!.error).toMatch(/container hcp-.* not found/);
    expect(cname).toBeTruthy();
  }, 60_000);
});
