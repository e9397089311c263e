// The agent's push spool: events come back oldest first through the event schema; a file that
// fails it is set aside under a dot-name and said — never sent, never dropped in silence.
import { readdir, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool } from '../../../src/store/spool.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-spool-');
});
afterEach(() => removeDir(dir));

const ev = (seq: number) => ({ ts: '2026-12-02T12:00:00.000Z', node: 'piha', type: 'node_heartbeat', seq, agent: 'a1b2c3d4' });

describe('Spool', () => {
  it('keeps events in order, hands back the readable ones and sets the others aside, saying how many', async () => {
    const mem = memoryLogger();
    const spool = new Spool(`${dir}/spool`, mem.log);
    await spool.add([ev(3), ev(1), ev(2)]);
    expect(await spool.names()).toEqual(['00000000000000000001-a1b2c3d4.json', '00000000000000000002-a1b2c3d4.json', '00000000000000000003-a1b2c3d4.json']);
    await writeFile(`${dir}/spool/00000000000000000002-a1b2c3d4.json`, '{"ts":"2026-12-02T12:00');
    const first = await spool.oldest(10);
    expect(first.events.map((e) => e.seq)).toEqual([1, 3]);
    expect(first.names).toEqual(['00000000000000000001-a1b2c3d4.json', '00000000000000000003-a1b2c3d4.json']);
    expect(mem.lines.map((l) => String(l.msg))).toEqual(['1 spooled event file(s) are unreadable and cannot be sent; set aside as .unreadable-<name>']);
    await spool.remove(first.names);
    expect(await spool.names()).toEqual([]);
    expect(await readdir(`${dir}/spool`)).toEqual(['.unreadable-00000000000000000002-a1b2c3d4.json']);
  });
});
