// Global setup of the Docker test project: before any Docker test runs, it leaves on the engine
// what an operator's own engine holds — a stopped container and a dangling image that no test
// created (no test label) — and after the whole project it checks that both are still there. The
// Docker tests may touch only what they created; this is the proof.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { dockerTestsOff, TEST_IMAGE } from './docker.js';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (dockerTestsOff()) return undefined;
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  try {
    await docker.ping();
    await docker.getImage(TEST_IMAGE).inspect();
  } catch {
    return undefined; // each test file reports the missing engine or image itself
  }
  const name = `operator-own-${randomBytes(4).toString('hex')}`;
  const container = await docker.createContainer({ Image: TEST_IMAGE, name, Cmd: ['true'], Labels: { 'operator.owned': 'yes' } });
  // An imported image without a repository name is dangling from the start.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hcp-survivor-'));
  writeFileSync(path.join(dir, 'payload'), randomBytes(4096));
  const imageId = execFileSync('sh', ['-c', `tar -C '${dir}' -c . | docker import -`], { encoding: 'utf8' }).trim();
  rmSync(dir, { recursive: true, force: true });
  // The test workers start after this and inherit the environment.
  process.env[SURVIVORS_ENV] = JSON.stringify({ container: name, image: imageId } satisfies Survivors);

  return async () => {
    await container.remove({ force: true }).catch(() => {});
    await docker.getImage(imageId).remove({ force: true }).catch(() => {});
  };
}

export const SURVIVORS_ENV = 'HOMELAB_TEST_SURVIVORS';
export interface Survivors {
  container: string;
  image: string;
}
