// The image the Docker tests run is never taken on trust: one of that name made another way is
// rebuilt by scripts/test-image.sh, and the right one is kept as it is.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerOrSkip, probeDocker, TEST_IMAGE } from '../support/docker.js';
import { repoRoot } from '../support/helpers.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const name = `homelab-test/busybox:recipe-${randomBytes(4).toString('hex')}`;
const script = path.join(repoRoot, 'scripts', 'test-image.sh');

const env = (image: string) => JSON.parse(spawnSync('docker', ['image', 'inspect', '--format', '{{json .Config.Env}}', image], { encoding: 'utf8' }).stdout) as string[];
const imageId = (image: string) => spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', image], { encoding: 'utf8' }).stdout.trim();

describe.skipIf(!run)('scripts/test-image.sh', () => {
  afterAll(() => {
    spawnSync('docker', ['rmi', '-f', name]);
  });

  it('rebuilds an image of that name made another way, then keeps it', () => {
    // Another image under the name: the shared test image re-tagged with another environment.
    const other = spawnSync('docker', ['build', '-q', '-t', name, '-'], { input: `FROM ${TEST_IMAGE}\nENV HOMELAB_TEST_RECIPE=someone-elses\n`, encoding: 'utf8' });
    expect(other.status, other.stderr).toBe(0);
    const foreign = imageId(name);
    const first = spawnSync('bash', [script], { env: { ...process.env, TEST_IMAGE: name }, encoding: 'utf8' });
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/was not made by this recipe .*rebuilding it/);
    expect(imageId(name)).not.toBe(foreign);
    const recipe = env(name).find((e) => e.startsWith('HOMELAB_TEST_RECIPE='));
    expect(recipe).toMatch(/^HOMELAB_TEST_RECIPE=[0-9a-f]{16}$/);
    // The shared image carries the same recipe (probeDocker made it).
    expect(env(TEST_IMAGE)).toContain(recipe);
    const kept = imageId(name);
    const second = spawnSync('bash', [script], { env: { ...process.env, TEST_IMAGE: name }, encoding: 'utf8' });
    expect(second.status).toBe(0);
    expect(second.stdout + second.stderr).toBe('');
    expect(imageId(name)).toBe(kept);
  }, 120_000);
});
