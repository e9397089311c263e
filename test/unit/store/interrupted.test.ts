// state/interrupted-redeploys.json read back through its schema: none is empty, a bad one is said
// and counts as empty, what was saved comes back.
import { writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InterruptedFile } from '../../../src/store/interrupted.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-interrupted-');
});
afterEach(() => removeDir(dir));

describe('InterruptedFile', () => {
  it('round-trips what was saved; no file is nothing, without a word', async () => {
    const mem = memoryLogger();
    const f = new InterruptedFile(`${dir}/interrupted.json`, mem.log);
    expect(await f.load()).toEqual([]);
    const list = [{ id: 'redeploy-n1-app', instance: '20260527T140000Z', node: 'n1', containers: ['app'] }, { id: 'container-restart-n1-db', instance: '20260527T140100Z', node: 'n1', containers: ['db'], restart: true as const }];
    await f.save(list);
    expect(await f.load()).toEqual(list);
    expect(mem.lines).toEqual([]);
  });

  it('a file that is not JSON, or not the schema, is said and counts as empty', async () => {
    const mem = memoryLogger();
    const f = new InterruptedFile(`${dir}/interrupted.json`, mem.log);
    await writeFile(`${dir}/interrupted.json`, '[{"id":');
    expect(await f.load()).toEqual([]);
    await writeFile(`${dir}/interrupted.json`, JSON.stringify([{ id: 'x', node: 'n1', containers: 'app' }]));
    expect(await f.load()).toEqual([]);
    expect(mem.lines.filter((l) => l.level === 40).map((l) => String(l.msg))).toEqual([
      'the record of interrupted operations is unreadable; their containers are left as they are',
      'the record of interrupted operations is not what this version writes; their containers are left as they are',
    ]);
  });
});
