// The memory settings the figures in docs/benchmarks.md were measured with (V8's heap flags and
// glibc's MALLOC_ARENA_MAX) are the ones the product runs with: npm start, the image, the bench.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/helpers.js';

const FLAGS = ['--heap-growing-percent=50', '--max-semi-space-size=4'];

describe('heap settings', () => {
  it('npm start, npm run bench, npm run leak and the Dockerfile entrypoint run node with the same heap flags', () => {
    const scripts = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).scripts as Record<string, string>;
    for (const name of ['start', 'bench', 'leak']) {
      const node = /\bnode ((?:--\S+ )*)/.exec(scripts[name]!.split('&&').at(-1)!.trim())![1]!.trim().split(' ');
      expect(node.filter((f) => /heap|semi-space/.test(f)), name).toEqual(FLAGS);
    }
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'))![1]!;
    expect((JSON.parse(entry) as string[]).filter((f) => /heap|semi-space/.test(f))).toEqual(FLAGS);
  });

  it('and with glibc held to two malloc arenas, unless the environment says otherwise', async () => {
    const { MALLOC_ENV } = await import('../../src/cli/heap-flags.js');
    expect(MALLOC_ENV).toEqual({ MALLOC_ARENA_MAX: '2' });
    const scripts = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).scripts as Record<string, string>;
    for (const name of ['start', 'bench', 'leak']) expect(scripts[name]!.split('&&').at(-1)!.trim(), name).toMatch(/^MALLOC_ARENA_MAX=\$\{MALLOC_ARENA_MAX:-2\} node /);
    expect(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8')).toMatch(/^ENV [^\n]*\\\n(?: {4}\S+ \\\n)* {4}MALLOC_ARENA_MAX=2 /m);
  });

  it('are the ones `control-plane run` starts itself again with when it was started without them', async () => {
    const { HEAP_FLAGS, missingHeapFlags } = await import('../../src/cli/heap-flags.js');
    expect([...HEAP_FLAGS]).toEqual(FLAGS);
    expect(missingHeapFlags([])).toEqual(FLAGS);
    expect(missingHeapFlags(['--enable-source-maps', '--heap-growing-percent=30'])).toEqual(['--max-semi-space-size=4']);
    expect(missingHeapFlags([...FLAGS])).toEqual([]);
  });

  it('node accepts them', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [...FLAGS, '-e', 'process.exit(0)'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
});
