// The reference table behind buttons: short keys that survive a restart, forged ones resolve to
// nothing, unused ones are dropped after 30 days, and an unreadable file loses only old buttons.
import { writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { refFor, RefTable } from '../../../src/bot/refs.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-refs-');
});
afterEach(async () => {
  await removeDir(dir);
});

const T0 = Date.parse('2026-05-27T14:00:00.000Z');

describe('RefTable', () => {
  it('references are short, stable, persisted, and resolve after a restart; forged ones do not', async () => {
    let now = T0;
    const t = new RefTable(`${dir}/refs.json`, () => now, memoryLogger().log);
    await t.load();
    const keys = Array.from({ length: 58 }, (_, i) => `action:container-restart-n1-s${i}@20260527T140000Z`);
    const refs = t.ensure(keys);
    await t.flushed();
    expect(new Set(refs).size).toBe(58);
    for (const r of refs) expect(r).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(refs[0]).toBe(refFor(keys[0]!));
    const again = new RefTable(`${dir}/refs.json`, () => now, memoryLogger().log);
    await again.load();
    expect(again.resolve(refs[7]!)).toBe(keys[7]);
    expect(again.resolve('AAAAAAAAAAAA')).toBeUndefined();
    // 31 days without use: dropped at the next start.
    now = T0 + 31 * 86_400_000;
    const later = new RefTable(`${dir}/refs.json`, () => now, memoryLogger().log);
    await later.load();
    expect(later.size).toBe(0);
  });

  it('an unreadable table is said once and the bot goes on', async () => {
    await writeFile(`${dir}/refs.json`, '{"version": 1, "refs": [');
    const mem = memoryLogger();
    const t = new RefTable(`${dir}/refs.json`, () => T0, mem.log);
    await t.load();
    expect(mem.text()).toMatch(/button reference table is unreadable/);
    expect(t.ref('action:x@1')).toBe(refFor('action:x@1'));
    await t.flushed();
  });

  it('forget drops the references of removed keys and those unused for 30 days, on disk too (retention in a process that runs for months)', async () => {
    let now = T0;
    const t = new RefTable(`${dir}/refs.json`, () => now, memoryLogger().log);
    await t.load();
    const [oldRef] = t.ensure(['action:old@1']);
    now = T0 + 20 * 86_400_000;
    const [goneRef, keptRef] = t.ensure(['action:gone@1', 'action:kept@1']);
    now = T0 + 31 * 86_400_000;
    expect(t.forget(new Set(['action:gone@1']))).toBe(2);
    await t.flushed();
    expect([t.resolve(oldRef!), t.resolve(goneRef!), t.resolve(keptRef!)]).toEqual([undefined, undefined, 'action:kept@1']);
    const again = new RefTable(`${dir}/refs.json`, () => now, memoryLogger().log);
    await again.load();
    expect(again.size).toBe(1);
  });
});
