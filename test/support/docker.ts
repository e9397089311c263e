// Docker tests run against a real engine, and only when HOMELAB_TEST_DOCKER=1 (.ci/run sets it):
// a developer's own engine is never used by a plain `npm test`. With the variable set, a missing
// engine fails in CI (CI=true) and is skipped, with the reason printed, elsewhere. Even then the
// tests touch only what they created: containers and images carry TEST_LABEL, and disk_cleanup
// runs with a prune_label.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import Docker from 'dockerode';
import { repoRoot } from './helpers.js';

export const TEST_IMAGE = 'homelab-test/busybox:1';
export const TEST_LABEL = 'homelab-control-plane.test';

export interface DockerProbe {
  docker: Docker | undefined;
  reason: string | undefined;
  /** True when the tests are switched off rather than missing their engine. */
  off?: boolean;
}

/** Why Docker tests are off, or undefined when HOMELAB_TEST_DOCKER=1 allows them. */
export function dockerTestsOff(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.HOMELAB_TEST_DOCKER === '1'
    ? undefined
    : 'HOMELAB_TEST_DOCKER is not 1 (set it to run the tests that create, restart and prune containers on the local Docker Engine; .ci/run does)';
}

export async function probeDocker(socketPath = '/var/run/docker.sock'): Promise<DockerProbe> {
  const off = dockerTestsOff();
  if (off) return { docker: undefined, reason: off, off: true };
  const docker = new Docker({ socketPath });
  try {
    await docker.ping();
  } catch (err) {
    return { docker: undefined, reason: `no Docker Engine at ${socketPath} (${(err as Error).message}); start dockerd or run .ci/run` };
  }
  // Never taken on trust: the script rebuilds an image of that name made another way.
  const made = spawnSync('bash', [path.join(repoRoot, 'scripts', 'test-image.sh')], { encoding: 'utf8', timeout: 120_000 });
  if (made.status !== 0) return { docker: undefined, reason: `test image ${TEST_IMAGE} could not be made by scripts/test-image.sh: ${(made.stderr || made.stdout).trim()}` };
  return { docker, reason: undefined };
}

/** In CI a missing engine is a failure; elsewhere the caller skips with the reason. */
export function dockerOrSkip(probe: DockerProbe): boolean {
  if (probe.docker) return true;
  if (process.env.CI === 'true' && !probe.off) throw new Error(`Docker is required in CI: ${probe.reason}`);
  console.warn(`skipping Docker tests: ${probe.reason}`);
  return false;
}

/** Removes every container carrying this run's label. */
export async function removeLabelled(docker: Docker, runId: string): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${runId}`] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
}

/** A container of the test image running `sleep 3600`, labelled with the run's id for cleanup. */
export async function makeTestContainer(docker: Docker, runId: string, name: string, opts: Partial<Docker.ContainerCreateOptions> = {}, start = true): Promise<Docker.Container> {
  const c = await docker.createContainer({
    Image: TEST_IMAGE,
    name,
    Cmd: ['sleep', '3600'],
    Labels: { [TEST_LABEL]: runId },
    ...opts,
    HostConfig: { Init: true, ...(opts.HostConfig ?? {}) },
  });
  if (start) await c.start();
  return c;
}
