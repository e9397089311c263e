// Docker tests run against a real engine. Without one they fail in CI (CI=true) and are skipped,
// with the reason printed, elsewhere.
import Docker from 'dockerode';

export const TEST_IMAGE = 'homelab-test/busybox:1';
export const TEST_LABEL = 'homelab-control-plane.test';

export interface DockerProbe {
  docker: Docker | undefined;
  reason: string | undefined;
}

export async function probeDocker(socketPath = '/var/run/docker.sock'): Promise<DockerProbe> {
  const docker = new Docker({ socketPath });
  try {
    await docker.ping();
  } catch (err) {
    return { docker: undefined, reason: `no Docker Engine at ${socketPath} (${(err as Error).message}); start dockerd or run .ci/run` };
  }
  try {
    await docker.getImage(TEST_IMAGE).inspect();
  } catch {
    return { docker: undefined, reason: `test image ${TEST_IMAGE} missing; build it with scripts/test-image.sh` };
  }
  return { docker, reason: undefined };
}

/** In CI a missing engine is a failure; elsewhere the caller skips with the reason. */
export function dockerOrSkip(probe: DockerProbe): boolean {
  if (probe.docker) return true;
  if (process.env.CI === 'true') throw new Error(`Docker is required in CI: ${probe.reason}`);
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
