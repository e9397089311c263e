// The engine the executor tests need: present in CI, and the test image runs.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerOrSkip, probeDocker, removeLabelled, TEST_IMAGE, TEST_LABEL } from '../support/docker.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');

describe.skipIf(!run)('Docker Engine for tests', () => {
  afterAll(async () => {
    if (probe.docker) await removeLabelled(probe.docker, runId);
  });

  it('runs the busybox test image', async () => {
    const docker = probe.docker!;
    const c = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sh', '-c', 'echo hello-from-busybox'],
      Labels: { [TEST_LABEL]: runId },
      HostConfig: { Init: true },
    });
    await c.start();
    const result = await c.wait();
    expect(result.StatusCode).toBe(0);
    const logs = (await c.logs({ stdout: true, stderr: true })).toString('utf8');
    expect(logs).toContain('hello-from-busybox');
  });
});
