// The action index keeps what a read found unless a hint named that file or directory while the
// read ran (docs/design/claims.md "Index"): a hint for another file — the watcher's word on the
// supervisor's newest action, say — does not make a thousand open actions be checked again.
// lstat(2) is counted through a wrapper of node:fs.
import { readFile as readFileText, rename, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ActionDraft } from '../../src/domain/plan.js';
import { ParsedActions } from '../../src/store/action-files.js';
import { ActionStore } from '../../src/store/actions.js';
import { ensureLayout, layout, type Layout } from '../../src/store/paths.js';
import { removeDir, tempDir } from '../support/helpers.js';

const probe = vi.hoisted(() => ({ lstats: new Map<string, number>(), readdirs: [] as string[], opens: [] as string[], onLstat: undefined as ((file: string) => void) | undefined }));
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  const lstatSync = ((file: string, opts?: never) => {
    probe.lstats.set(String(file), (probe.lstats.get(String(file)) ?? 0) + 1);
    probe.onLstat?.(String(file));
    return fs.lstatSync(file, opts);
  }) as typeof fs.lstatSync;
  const readdir = ((dir: string, ...rest: never[]) => {
    probe.readdirs.push(path.basename(String(dir)));
    return (fs.promises.readdir as (...a: unknown[]) => unknown)(dir, ...rest);
  }) as typeof fs.promises.readdir;
  const open = ((file: string, ...rest: never[]) => {
    probe.opens.push(path.basename(String(file)));
    return (fs.promises.open as (...a: unknown[]) => unknown)(file, ...rest);
  }) as typeof fs.promises.open;
  const promises = { ...fs.promises, readdir, open };
  return { ...fs, default: { ...fs, lstatSync, promises }, lstatSync, promises };
});

let root: string;
let l: Layout;
let store: ActionStore;
const T0 = Date.parse('2026-12-02T14:00:00.000Z');
let clock = T0;
const draft = (service: string): ActionDraft => ({ id: `container-restart-n-${service}`, instance: '20261202T140000Z', type: 'container_restart', risk: 'low', node: 'n', service, drift: 'unhealthy_service', trigger: 'containers_not_running', containers: [service], drift_since: null });
const total = () => [...probe.lstats.values()].reduce((a, b) => a + b, 0);

beforeEach(async () => {
  root = await tempDir('hcp-index-hints-');
  l = layout(path.join(root, 'homelab'));
  await ensureLayout(l);
  clock = T0;
  store = new ActionStore(l.actions, () => clock);
  await store.ensureDirs();
  store.indexByHints();
  probe.lstats.clear();
  probe.onLstat = undefined;
});
afterEach(async () => {
  probe.onLstat = undefined;
  await removeDir(root);
});

describe('the action index and hints for other files', () => {
  it('a listing that hints for other files overtook is remembered: the next one checks nothing', async () => {
    // Written by another process (the CLI, say): this store reads them.
    const other = new ActionStore(l.actions, () => clock);
    for (let i = 0; i < 100; i++) await other.create(draft(`s${i}`));
    // The first listing reads every file while hints for another directory keep arriving.
    let listing = true;
    let hints = 0;
    const tick = () => {
      if (!listing) return;
      store.hint('approved', `other-${hints++}.json`);
      setImmediate(tick);
    };
    setImmediate(tick);
    expect((await store.listOpen()).length).toBe(100);
    listing = false;
    expect(hints).toBeGreaterThan(0);
    probe.lstats.clear();
    expect((await store.listOpen()).length).toBe(100);
    // The hundred pending files are kept; what approved/ was hinted of is looked up (no such file).
    expect([...probe.lstats.keys()].filter((f) => !path.basename(f).startsWith('other-'))).toEqual([]);
  });

  it('a hint for one name brings the kept list up to date by that name alone, not by listing the directory again', async () => {
    for (let i = 0; i < 50; i++) await store.create(draft(`s${i}`));
    await store.listOpen();
    probe.readdirs.length = 0;
    probe.lstats.clear();
    // This store writes one more; another process removes one, and the watcher says its name.
    await store.create(draft('new'));
    await rm(path.join(l.actions, 'pending', 'container-restart-n-s7.json'));
    store.hint('pending', 'container-restart-n-s7.json');
    const ids = (await store.listOpen()).map((a) => a.service);
    expect(ids).toContain('new');
    expect(ids).not.toContain('s7');
    expect(ids).toHaveLength(50);
    expect(probe.readdirs.filter((d) => d === 'pending')).toEqual([]);
    expect(total()).toBeLessThanOrEqual(4);
  });

  it('a change the watcher cannot name (no file name) sets the directory aside: listed again from disk', async () => {
    await store.create(draft('a'));
    await store.listOpen();
    const b = JSON.parse(await readFileText(path.join(l.actions, 'pending', 'container-restart-n-a.json')));
    await writeFile(path.join(l.actions, 'pending', 'container-restart-n-b.json'), JSON.stringify({ ...b, id: 'container-restart-n-b', service: 'b' }));
    expect((await store.listOpen()).map((a) => a.service)).toEqual(['a']);
    store.hintDir('pending');
    expect((await store.listOpen()).map((a) => a.service).sort()).toEqual(['a', 'b']);
  });

  it('a read that a hint for the same file overtook is not remembered: the file is checked again', async () => {
    await store.create(draft('a'));
    await store.create(draft('b'));
    const file = path.join(l.actions, 'pending', 'container-restart-n-a.json');
    // Another process rewrites a; its hint arrives while this store is reading a.
    await writeFile(file, JSON.stringify({ ...JSON.parse(JSON.stringify((await store.listOpen())[0])), trigger: 'mqtt_unreachable' }));
    store.hint('pending', 'container-restart-n-a.json');
    probe.onLstat = (f) => {
      if (f === file) store.hint('pending', 'container-restart-n-a.json');
    };
    await store.listOpen();
    probe.onLstat = undefined;
    probe.lstats.clear();
    await store.listOpen();
    expect(probe.lstats.get(file)).toBeGreaterThan(0);
    expect(probe.lstats.get(path.join(l.actions, 'pending', 'container-restart-n-b.json'))).toBeUndefined();
  });

  it("a listing beside one of this store's writes: the write's files from disk, the rest from the index", async () => {
    await store.create(draft('a'));
    await store.create(draft('b'));
    await store.listOpen();
    const fileB = path.join(l.actions, 'pending', 'container-restart-n-b.json');
    // While a transition of a runs, every listing beside it (the supervisor's, which counts claims)
    // reads a from disk and b from the index, and sees a once, as it was or as it becomes.
    const during: string[][] = [];
    probe.lstats.clear();
    let moving = true;
    const tick = () => {
      if (!moving) return;
      void store.listOpenOrMoving().then((xs) => during.push(xs.map((x) => `${x.state}:${x.id}`)));
      setImmediate(tick);
    };
    setImmediate(tick);
    const [, moved] = await Promise.all([store.listOpen(), store.transition({ id: 'container-restart-n-a', from: 'pending', to: 'approved', by: 't' })]);
    moving = false;
    expect(during.length).toBeGreaterThan(0);
    expect(moved.state).toBe('approved');
    expect(probe.lstats.get(fileB)).toBeUndefined();
    for (const xs of during) expect(xs.filter((x) => x.endsWith('-a'))).toHaveLength(1);
    const now = ['approved:container-restart-n-a', 'pending:container-restart-n-b'];
    expect((await store.listOpen()).map((a) => `${a.state}:${a.id}`).sort()).toEqual(now);
    probe.lstats.clear();
    expect((await store.listOpen()).map((a) => `${a.state}:${a.id}`).sort()).toEqual(now);
    expect(total()).toBe(0);
  });

  it('adoption reads the names hinted since its last look; a directory whole only first, after a nameless change, or after FRESH_MS', async () => {
    for (let i = 0; i < 50; i++) await store.create(draft(`s${i}`));
    expect(await store.adoptMoved()).toEqual([]);
    probe.readdirs.length = 0;
    probe.opens.length = 0;
    expect(await store.adoptMoved()).toEqual([]);
    expect(probe.readdirs).toEqual([]);
    expect(probe.opens).toEqual([]);
    // Approved by `mv`: the watcher names the file in both directories.
    const moveByHand = async (service: string) => {
      const name = `container-restart-n-${service}.json`;
      await rename(path.join(l.actions, 'pending', name), path.join(l.actions, 'approved', name));
      return name;
    };
    const s3 = await moveByHand('s3');
    store.hint('pending', s3);
    store.hint('approved', s3);
    expect(await store.adoptMoved()).toEqual(['adopted container-restart-n-s3: pending → approved by file']);
    expect(probe.readdirs).toEqual([]);
    // A change the watcher could not name: that directory is looked at whole.
    await moveByHand('s4');
    store.hintDir('approved');
    probe.readdirs.length = 0;
    expect(await store.adoptMoved(['approved'])).toEqual(['adopted container-restart-n-s4: pending → approved by file']);
    expect(probe.readdirs).toEqual(['approved']);
    // A hint lost on the way: found at the first look after FRESH_MS, when each directory is read whole.
    await moveByHand('s5');
    expect(await store.adoptMoved(['approved'])).toEqual([]);
    clock += ActionStore.INDEX_FRESH_MS;
    probe.readdirs.length = 0;
    expect(await store.adoptMoved(['approved'])).toEqual(['adopted container-restart-n-s5: pending → approved by file']);
    expect(probe.readdirs).toEqual(['approved']);
  });

  it("this store's own writes are known without reading them back: a burst and the watcher's echo of it cost no read; a change by hand is read", async () => {
    // More new actions than a directory's list of hinted names holds: the next looks see all of pending.
    const n = 300;
    for (let i = 0; i < n; i++) await store.create(draft(`s${i}`));
    await store.transition({ id: 'container-restart-n-s0', from: 'pending', to: 'approved', by: 't' });
    // The watcher's echo of each write arrives after it.
    for (let i = 0; i < n; i++) store.hint('pending', `container-restart-n-s${i}.json`);
    store.hint('approved', 'container-restart-n-s0.json');
    probe.opens.length = 0;
    probe.readdirs.length = 0;
    expect(await store.adoptMoved()).toEqual([]);
    expect((await store.listOpen()).map((a) => `${a.state}:${a.service}`).slice(0, 2)).toEqual(['approved:s0', 'pending:s1']);
    expect(probe.readdirs.filter((d) => d === 'pending').length).toBeGreaterThan(0);
    expect(probe.opens).toEqual([]);
    // By hand: one file written again in place (same size, another time), one moved to approved.
    const pending = path.join(l.actions, 'pending');
    const f1 = path.join(pending, 'container-restart-n-s1.json');
    const text = await readFileText(f1, 'utf8');
    const edited = text.replace('"trigger": "containers_not_running"', '"trigger": "containers_not_runnin9"');
    expect(edited).not.toBe(text);
    await writeFile(f1, edited);
    await utimes(f1, new Date('2000-01-01T00:00:00Z'), new Date('2000-01-01T00:00:00Z'));
    await rename(path.join(pending, 'container-restart-n-s2.json'), path.join(l.actions, 'approved', 'container-restart-n-s2.json'));
    store.hint('pending', 'container-restart-n-s1.json');
    store.hint('pending', 'container-restart-n-s2.json');
    store.hint('approved', 'container-restart-n-s2.json');
    expect(await store.adoptMoved()).toEqual(['adopted container-restart-n-s2: pending → approved by file']);
    const listed = await store.listOpen();
    expect(listed.find((a) => a.service === 's1')!.trigger).toBe('containers_not_runnin9');
    expect(listed.find((a) => a.service === 's2')!.state).toBe('approved');
    expect(probe.opens.filter((f) => f.endsWith('.json') && !f.startsWith('.'))).toEqual(['container-restart-n-s1.json', 'container-restart-n-s2.json']);
  });

  it('the open listing reads only the names hinted since the last one; two listings at once both see the change', async () => {
    for (let i = 0; i < 50; i++) await store.create(draft(`s${i}`));
    expect((await store.listOpen()).length).toBe(50);
    // The files each listing looks up (in the index, the parsed-file cache, or on disk).
    const looked: string[] = [];
    const readMany = ParsedActions.prototype.readMany;
    const spy = vi.spyOn(ParsedActions.prototype, 'readMany').mockImplementation(function (this: ParsedActions, files) {
      looked.push(...files.map((f) => path.basename(f)));
      return readMany.call(this, files);
    });
    probe.lstats.clear();
    probe.opens.length = 0;
    probe.readdirs.length = 0;
    expect((await store.listOpen()).length).toBe(50);
    expect([total(), probe.opens, probe.readdirs, looked]).toEqual([0, [], [], []]);
    // Another process writes one action and removes another; the watcher names both.
    const pending = path.join(l.actions, 'pending');
    const a = JSON.parse(await readFileText(path.join(pending, 'container-restart-n-s0.json'), 'utf8'));
    await writeFile(path.join(pending, 'container-restart-n-extra.json'), JSON.stringify({ ...a, id: 'container-restart-n-extra', service: 'extra', containers: ['extra'] }));
    await rm(path.join(pending, 'container-restart-n-s1.json'));
    store.hint('pending', 'container-restart-n-extra.json');
    store.hint('pending', 'container-restart-n-s1.json');
    const [one, two] = await Promise.all([store.listOpen(), store.listOpen()]);
    for (const listing of [one, two]) {
      const ids = listing.map((x) => x.id);
      expect(ids.length).toBe(50);
      expect(ids).toContain('container-restart-n-extra');
      expect(ids).not.toContain('container-restart-n-s1');
    }
    // Read: the new file alone; no directory listed again.
    expect(probe.opens).toEqual(['container-restart-n-extra.json']);
    expect(probe.readdirs).toEqual([]);
    expect(looked.sort()).toEqual(['container-restart-n-extra.json', 'container-restart-n-s1.json']);
    spy.mockRestore();
  });
});
