// The world files as the page reads them back: checked against the schema, a bad one said once
// (until it changes) and shown as it is; a file that is not JSON shown as empty.
import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureLayout, layout, type Layout } from '../../../src/store/paths.js';
import { WorldFiles } from '../../../src/store/world.js';
import { writeFileAtomic } from '../../../src/store/atomic.js';
import { worldFixture } from '../../support/api-fixture.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';

let root: string;
let l: Layout;
beforeEach(async () => {
  root = await tempDir('hcp-world-files-');
  l = layout(root);
  await ensureLayout(l);
});
afterEach(() => removeDir(root));

describe('writing a text in parts', () => {
  it('more parts than one writev takes (IOV_MAX), some empty, multi-byte ones included: the bytes in order', async () => {
    const parts = Array.from({ length: 2500 }, (_, i) => Buffer.from(i % 7 === 0 ? '' : `${i}:żółw🐢,`, 'utf8'));
    await writeFileAtomic(l.worldServices, parts);
    expect(await readFile(l.worldServices)).toEqual(Buffer.concat(parts));
  });
});

describe('WorldFiles', () => {
  it('reads what the observer writes, without a word', async () => {
    const w = worldFixture(Date.parse('2026-12-02T12:00:00Z'), false);
    await writeFile(l.worldServices, JSON.stringify(w.services));
    await writeFile(l.worldNodes, JSON.stringify(w.nodes));
    const mem = memoryLogger();
    expect(await new WorldFiles(l, mem.log).read()).toEqual(w);
    expect(mem.lines).toEqual([]);
  });

  it('a file that fails the schema is logged once per problem and shown as it is; one that is not JSON is shown as empty', async () => {
    const mem = memoryLogger();
    const files = new WorldFiles(l, mem.log);
    const odd = { 'n/s': { node: 'n', service: 's', status: 'sideways' } };
    await writeFile(l.worldServices, JSON.stringify(odd));
    await writeFile(l.worldNodes, '{"half":');
    for (let i = 0; i < 3; i++) expect(await files.read()).toEqual({ services: odd, nodes: {} });
    const warnings = () => mem.lines.filter((x) => x.level === 40).map((x) => String(x.msg));
    expect(warnings()).toHaveLength(2);
    expect(warnings()[0]).toMatch(/services\.json does not match the world schema \(n\/s\.[a-z_]+: .*\); shown as it is/);
    expect(warnings()[1]).toMatch(/nodes\.json is not JSON/);
    // Another problem is said again.
    const odd2 = { 'n/s': 42 };
    await writeFile(l.worldServices, JSON.stringify(odd2));
    expect((await files.read()).services).toEqual(odd2);
    expect(warnings()).toHaveLength(3);
  });
});
