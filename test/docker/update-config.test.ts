// An image update runs the new image as its author made it: its command, environment and labels,
// with what the operator gave the container kept. Real registry, real engine: the container is
// made without a command (the image's), with one variable of the operator's.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpdateImage } from '../../src/domain/actions.js';
import { updateImages, type UpdateContext } from '../../src/docker/update.js';
import { RolledBackError } from '../../src/errors.js';
import { dockerOrSkip, probeDocker, removeLabelled, TEST_IMAGE, TEST_LABEL } from '../support/docker.js';
import { removeDir, tempDir } from '../support/helpers.js';
import { dockerCli, registryMissing, removeImagesMarked, startRegistry, type TestRegistry } from '../support/registry.js';

const probe = await probeDocker();
const dockerOk = dockerOrSkip(probe);
const missing = dockerOk ? registryMissing() : undefined;
if (missing && process.env.CI === 'true') throw new Error(`the registry tests need ${missing}`);
const run = dockerOk && !missing;

const runId = randomBytes(4).toString('hex');
const CONTAINER = `hcp-${runId}-cfg`;

describe.skipIf(!run)('an image update takes the new image\'s command, environment and labels', () => {
  let docker: Docker;
  let dir: string;
  let dockerConfig: string;
  let reg: TestRegistry;
  let repo: string;
  let built = 0;

  function build(lines: string[]): string {
    const tag = `${repo}:build-${built++}`;
    dockerCli(['build', '-q', '-t', tag, '-'], { input: [`FROM ${TEST_IMAGE}`, `LABEL ${TEST_LABEL}.image=${runId}`, ...lines].join('\n'), dockerConfig });
    return dockerCli(['image', 'inspect', '--format', '{{.Id}}', tag], { dockerConfig });
  }
  function push(id: string): string {
    dockerCli(['tag', id, `${repo}:stable`], { dockerConfig });
    const m = /digest: (sha256:[0-9a-f]{64})/.exec(dockerCli(['push', `${repo}:stable`], { dockerConfig }));
    if (!m) throw new Error('no digest in the push output');
    return m[1]!;
  }
  const ctx = (): UpdateContext => ({ docker, deadline: Date.now() + 60_000, now: () => Date.now(), verifyMs: 1500, pollMs: 100, settleMs: 300, stopTimeoutS: 2 });
  const plan = (from: string, to: string): UpdateImage[] => [{ image: `${repo}:stable`, repository: repo, tag: 'stable', containers: [CONTAINER], from_digest: from, to_digest: to }];
  const top = async () => JSON.stringify((await docker.getContainer(CONTAINER).top()).Processes);

  let v1Digest: string;
  let v2Id: string;
  let v2Digest: string;

  beforeAll(async () => {
    docker = probe.docker!;
    dir = await tempDir('hcp-update-cfg-');
    dockerConfig = path.join(dir, 'docker-config');
    spawnSync('mkdir', ['-p', dockerConfig]);
    reg = await startRegistry(path.join(dir, 'registry'));
    repo = `${reg.host}/demo/cfg-${runId}`;
    const v1Id = build(['CMD ["sleep", "3600"]', 'ENV APP_VERSION=1 ONLY_IN_V1=yes', 'LABEL org.opencontainers.image.version=1.0.0']);
    v1Digest = push(v1Id);
    v2Id = build(['CMD ["sleep", "3601"]', 'ENV APP_VERSION=2', 'LABEL org.opencontainers.image.version=2.0.0']);
    v2Digest = push(v2Id);
    dockerCli(['tag', v1Id, `${repo}:stable`], { dockerConfig });
    // docker run -e OP_GIVEN=kept -l <test label> repo:stable — no command: the image's.
    const c = await docker.createContainer({ Image: `${repo}:stable`, name: CONTAINER, Env: ['OP_GIVEN=kept'], Labels: { [TEST_LABEL]: runId }, HostConfig: { Init: true } });
    await c.start();
    expect(await top()).toContain('sleep 3600');
  }, 180_000);

  afterAll(async () => {
    if (docker) await removeLabelled(docker, runId);
    if (docker) await removeImagesMarked(docker, runId);
    await reg?.stop();
    if (dir) await removeDir(dir);
  });

  it('v1 → v2: v2\'s command runs, v2\'s variables and labels, the operator\'s variable and label kept', async () => {
    const result = await updateImages(ctx(), plan(v1Digest, v2Digest));
    const info = await docker.getContainer(CONTAINER).inspect();
    expect(info.Image).toBe(v2Id);
    expect(info.Config.Cmd).toEqual(['sleep', '3601']);
    expect(info.Config.Env).toContain('APP_VERSION=2');
    expect(info.Config.Env).toContain('OP_GIVEN=kept');
    expect(info.Config.Env).not.toContain('APP_VERSION=1');
    expect(info.Config.Env).not.toContain('ONLY_IN_V1=yes');
    expect(info.Config.Labels).toMatchObject({ 'org.opencontainers.image.version': '2.0.0', [TEST_LABEL]: runId });
    expect(await top()).toContain('sleep 3601');
    expect(result.containers[0]!.image_settings).toEqual(expect.arrayContaining(['Cmd', 'Env', 'Labels']));
  }, 120_000);

  it('v3 whose command exits 1: rolled back, v2 runs with v2\'s command', async () => {
    const v3Id = build(['CMD ["sh", "-c", "exit 1"]', 'ENV APP_VERSION=3', 'LABEL org.opencontainers.image.version=3.0.0']);
    const v3Digest = push(v3Id);
    dockerCli(['tag', v2Id, `${repo}:stable`], { dockerConfig });
    const err = await updateImages(ctx(), plan(v2Digest, v3Digest)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolledBackError);
    expect((err as Error).message).toMatch(/exited with code 1/);
    const info = await docker.getContainer(CONTAINER).inspect();
    expect(info.Image).toBe(v2Id);
    expect(info.State.Running).toBe(true);
    expect(info.Config.Cmd).toEqual(['sleep', '3601']);
    expect(info.Config.Labels).toMatchObject({ 'org.opencontainers.image.version': '2.0.0' });
    expect(info.Config.Env).toContain('OP_GIVEN=kept');
    expect(await top()).toContain('sleep 3601');
  }, 120_000);
});
