// disk_cleanup against a recording Docker Engine stand-in: without prune_label it prunes stopped
// containers, dangling images and build cache engine-wide (docs/design/executor.md); with it, only
// labelled containers and images, and never the build cache (its prune has no label filter).
import path from 'node:path';
import Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diskCleanup } from '../../src/docker/ops.js';
import { parseDesiredText } from '../../src/store/desired.js';
import { FakeDocker } from '../support/fake-docker.js';
import { removeDir, tempDir } from '../support/helpers.js';

let root: string;
let fake: FakeDocker;
let docker: Docker;

beforeEach(async () => {
  root = await tempDir('hcp-prune-');
  fake = new FakeDocker(path.join(root, 'docker.sock'));
  await fake.start();
  docker = new Docker({ socketPath: fake.socketPath });
});
afterEach(async () => {
  await fake.stop();
  await removeDir(root);
});

const ctx = () => ({ docker, deadline: Date.now() + 60_000, now: Date.now });

describe('disk_cleanup', () => {
  it('without prune_label prunes containers, dangling images and the build cache engine-wide', async () => {
    const r = await diskCleanup(ctx());
    expect(fake.calls.map((c) => c.op)).toEqual(['prune-containers', 'prune-images', 'prune-build']);
    expect(fake.calls[0]!.filters ?? {}).toEqual({});
    expect(fake.calls[1]!.filters).toEqual({ dangling: ['true'] });
    expect(r).toMatchObject({ containers: { removed: 2, bytes: 2048 }, images: { removed: 1, bytes: 4096 }, build_cache: { removed: 3, bytes: 8192 }, bytes_total: 14336 });
    expect(r.label).toBeUndefined();
  });

  it('with prune_label prunes only what carries the label and leaves the build cache alone', async () => {
    const r = await diskCleanup(ctx(), 'homelab.prune=yes');
    expect(fake.calls.map((c) => c.op)).toEqual(['prune-containers', 'prune-images']);
    expect(fake.calls[0]!.filters).toEqual({ label: ['homelab.prune=yes'] });
    expect(fake.calls[1]!.filters).toEqual({ dangling: ['true'], label: ['homelab.prune=yes'] });
    expect(r.build_cache).toEqual({ removed: 0, bytes: 0, skipped: 'prune_label is set and the build cache has no label filter' });
    expect(r.bytes_total).toBe(2048 + 4096);
    expect(r.label).toBe('homelab.prune=yes');
  });

  it('services.yaml accepts docker.prune_label and refuses a malformed one with its line', () => {
    const ok = parseDesiredText('n1', 'services.yaml', 'docker:\n  socket: /var/run/docker.sock\n  prune_label: homelab.prune=yes\nservices:\n  a: {}\n');
    expect(ok.ok && ok.value.docker).toEqual({ socket: '/var/run/docker.sock', prune_label: 'homelab.prune=yes' });
    const bad = parseDesiredText('n1', 'services.yaml', 'docker:\n  socket: /var/run/docker.sock\n  prune_label: "has spaces in it"\nservices:\n  a: {}\n');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems[0]).toMatchObject({ line: 3, reason: expect.stringMatching(/docker\.prune_label: must be a Docker label filter/) });
  });
});
