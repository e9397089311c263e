// Runs after every other Docker test file (test/support/sequencer.ts): the stopped container and
// the dangling image that the project's global setup left, as an operator's own engine holds
// them, are still there. No Docker test may remove what it did not create.
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { dockerOrSkip, probeDocker } from '../support/docker.js';
import { SURVIVORS_ENV, type Survivors } from '../support/docker-survivors.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);

describe.skipIf(!run)("an operator's own objects", () => {
  it('a stopped container and a dangling image no test created outlive every Docker test', async () => {
    const raw = process.env[SURVIVORS_ENV];
    expect(raw, 'the global setup test/support/docker-survivors.ts did not run').toBeDefined();
    const s = JSON.parse(raw!) as Survivors;
    const docker = probe.docker as Docker;
    const info = await docker.getContainer(s.container).inspect();
    expect(info.State.Running).toBe(false);
    const image = await docker.getImage(s.image).inspect();
    expect(image.RepoTags ?? []).toEqual([]);
  });
});
