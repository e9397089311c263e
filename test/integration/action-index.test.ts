// The action store's index while its directories are watched (docs/design/claims.md "Index"): a
// listing reads from what it read before until a hint names a change — this store's own writes at
// once, another process's through the watcher — and from disk again after INDEX_FRESH_MS in any
// case. With the real watchers component, a file moved by hand is listed as soon as it lands.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Bus } from '../../src/app/bus.js';
import { watchersComponent } from '../../src/app/components.js';
import type { ActionDraft } from '../../src/domain/plan.js';
import { ActionReader } from '../../src/store/action-queries.js';
import { ActionStore } from '../../src/store/actions.js';
import { ensureLayout, layout, type Layout } from '../../src/store/paths.js';
import { memoryLogger, removeDir, tempDir, waitFor } from '../support/helpers.js';

let root: string;
let l: Layout;
let store: ActionStore;
let clock = Date.parse('2026-12-02T14:00:00.000Z');

const draft = (service: string): ActionDraft => ({ id: `container-restart-n-${service}`, instance: '20261202T140000Z', type: 'container_restart', risk: 'low', node: 'n', service, drift: 'unhealthy_service', trigger: 'containers_not_running', containers: [service], drift_since: null });
/** Each open action by the directory it is in (a file moved by hand still says its old state inside). */
const open = async () => (await Promise.all((['pending', 'approved', 'running'] as const).map(async (s) => (await store.list(s)).map((a) => `${s}:${a.id}`)))).flat().sort();

beforeEach(async () => {
  root = await tempDir('hcp-index-');
  l = layout(path.join(root, 'homelab'));
  await ensureLayout(l);
  store = new ActionStore(l.actions, () => clock);
  await store.ensureDirs();
});
afterEach(async () => {
  await removeDir(root);
});

describe('the action index', () => {
  it('the change mark: none without the index; moves with every write and hint; a group message reads its open members from a listing only while it holds', async () => {
    expect(store.changeMark()).toBeUndefined();
    store.indexByHints();
    const m0 = store.changeMark()!;
    await store.create(draft('a'));
    const m1 = store.changeMark()!;
    expect(m1).not.toBe(m0);
    await store.listOpen();
    expect(store.changeMark()).toBe(m1);
    store.hint('pending', 'x.json');
    expect(store.changeMark()).not.toBe(m1);
    // The notifier's lookup: from the listing while the mark holds, from the files once it moved.
    const { Notifier, actionKey } = await import('../../src/bot/notifier.js');
    const notifier = new Notifier({ actions: store, chatId: '1', log: memoryLogger().log, now: () => clock } as never);
    const [a] = await store.listOpen();
    const listed = { ...a!, trigger: 'as listed' };
    const key = actionKey(a!);
    const mark = store.changeMark()!;
    expect((await notifier.members([key], { mark, byKey: new Map([[key, listed]]) }))[0]!.trigger).toBe('as listed');
    await store.transition({ id: a!.id, from: 'pending', to: 'approved', by: 'test' });
    const moved = await notifier.members([key], { mark, byKey: new Map([[key, listed]]) });
    expect(moved.map((x) => `${x.state}:${x.trigger}`)).toEqual(['approved:containers_not_running']);
  });

  it('a group of many members whose listing went stale is looked up in one new listing, not one file each', async () => {
    store.indexByHints();
    for (let i = 0; i < 20; i++) await store.create(draft(`s${i}`));
    const { Notifier, actionKey } = await import('../../src/bot/notifier.js');
    const notifier = new Notifier({ actions: store, chatId: '1', log: memoryLogger().log, now: () => clock } as never);
    const all = await store.listOpen();
    const listing = { mark: store.changeMark()!, byKey: new Map(all.map((a) => [actionKey(a), a])) };
    await store.transition({ id: 'container-restart-n-s3', from: 'pending', to: 'approved', by: 'test' });
    const find = vi.spyOn(store, 'find');
    const list = vi.spyOn(store, 'listOpen');
    const members = await notifier.members(all.map(actionKey), listing);
    expect(members.map((m) => `${m.state}:${m.service}`)).toEqual(all.map((a) => `${a.service === 's3' ? 'approved' : 'pending'}:${a.service}`));
    expect(find).not.toHaveBeenCalled();
    expect(list).toHaveBeenCalledTimes(1);
    // The listing handed in is the new one now: the next group of the pass uses it as it is.
    expect(listing.mark).toBe(store.changeMark());
    await notifier.members(all.map(actionKey), listing);
    expect(list).toHaveBeenCalledTimes(1);
  });

  it("lists this store's own writes at once, another's after a hint or INDEX_FRESH_MS", async () => {
    store.indexByHints();
    await store.create(draft('a'));
    expect(await open()).toEqual(['pending:container-restart-n-a']);
    await store.create(draft('b'));
    await store.transition({ id: 'container-restart-n-a', from: 'pending', to: 'approved', by: 't' });
    expect(await open()).toEqual(['approved:container-restart-n-a', 'pending:container-restart-n-b']);

    // Another process rewrites b (a new trigger) and moves nothing: no hint yet, the index holds.
    const file = path.join(l.actions, 'pending', 'container-restart-n-b.json');
    const b = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...b, trigger: 'mqtt_unreachable' }));
    const trigger = async () => (await store.listOpenOrMoving()).find((a) => a.id === 'container-restart-n-b')?.trigger;
    expect(await trigger()).toBe('containers_not_running');
    store.hint('pending', 'container-restart-n-b.json');
    expect(await trigger()).toBe('mqtt_unreachable');

    // A move by hand with its hint lost: listed again once the index is INDEX_FRESH_MS old.
    await rename(file, path.join(l.actions, 'approved', 'container-restart-n-b.json'));
    expect(await open()).toEqual(['approved:container-restart-n-a', 'pending:container-restart-n-b']);
    clock += ActionReader.INDEX_FRESH_MS;
    expect(await open()).toEqual(['approved:container-restart-n-a', 'approved:container-restart-n-b']);

    // Without the index (no watcher), every listing reads the disk.
    store.dropIndex();
    await rename(path.join(l.actions, 'approved', 'container-restart-n-b.json'), file);
    expect(await open()).toEqual(['approved:container-restart-n-a', 'pending:container-restart-n-b']);
  });

  it('an action another process finished before its hint arrived is open or finished, never neither', async () => {
    store.indexByHints();
    await store.create(draft('a'));
    // Everything read once: the index holds every directory.
    expect((await store.listOpenOrMoving()).map((a) => a.id)).toEqual(['container-restart-n-a']);
    expect(await store.finishedNames(['rejected'])).toEqual([]);
    // Another process rejects it (no hint reaches this store).
    await new ActionStore(l.actions, () => clock).transition({ id: 'container-restart-n-a', from: 'pending', to: 'rejected', by: 'cli' });
    // The supervisor's order: open actions first, then the finished ones.
    const open = (await store.listOpenOrMoving()).map((a) => a.id);
    const finished = (await store.finishedNames(['rejected'])).map((f) => f.name);
    expect(open.length + finished.length).toBeGreaterThan(0);
    expect(finished).toEqual([expect.stringMatching(/^container-restart-n-a@/)]);
  });

  it('with the watchers, a file moved by hand is listed within a second', async () => {
    const bus = new Bus();
    const w = watchersComponent(path.join(root, 'hosts'), l, bus, memoryLogger().log, [], store);
    await w.start(new AbortController().signal);
    try {
      await store.create(draft('a'));
      expect(await open()).toEqual(['pending:container-restart-n-a']);
      await rename(path.join(l.actions, 'pending', 'container-restart-n-a.json'), path.join(l.actions, 'approved', 'container-restart-n-a.json'));
      await waitFor(async () => (await open()).includes('approved:container-restart-n-a'), { timeoutMs: 1000, what: 'the moved file listed' });
      expect(await open()).toEqual(['approved:container-restart-n-a']);
      // And adopted as an approval by file, as the supervisor's pass does.
      expect(await store.adoptMoved()).toEqual(['adopted container-restart-n-a: pending → approved by file']);
      expect((await store.listOpenOrMoving()).map((a) => a.state)).toEqual(['approved']);
    } finally {
      await w.stop?.();
    }
  });
});
