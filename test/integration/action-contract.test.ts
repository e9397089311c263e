// The action store's contract, run against both backends (docs/design/claims.md): the files, and
// JetStream KV on a real nats-server (Debian's 2.9, started here). Whatever the backend, an id is
// never open twice, every finished instance is kept, of racing transitions one wins and the
// others learn where the action is, a button of an older instance changes nothing, and a second
// store on the same data (another process: the CLI, a standby) sees what the first one did.
import { connect } from 'nats';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTIONS_BUCKET } from '../../src/nats/actions-kv.js';
import { TransitionError, type ActionBackend } from '../../src/store/action-backend.js';
import { ActionStore } from '../../src/store/actions.js';
import { actionDraft, removeDir, tempDir, waitFor } from '../support/helpers.js';
import { natsMissing, openKvStore, startNats, type TestNats } from '../support/nats.js';

let clock = Date.parse('2026-05-27T14:00:00.000Z');
const draft = actionDraft;

interface Opened {
  store: ActionBackend;
  /** Another store on the same data, as another process has it. */
  other(): Promise<ActionBackend>;
  close(): Promise<void>;
}

const missing = natsMissing();
if (missing) console.warn(`NATS KV contract tests skipped: ${missing}`);

let nats: TestNats | undefined;
let natsDir: string | undefined;
beforeAll(async () => {
  if (missing) return;
  natsDir = await tempDir('hcp-kv-contract-');
  nats = await startNats(natsDir);
});
afterAll(async () => {
  await nats?.stop();
  if (natsDir) await removeDir(natsDir);
});

const backends: { name: string; skip: boolean; open(): Promise<Opened> }[] = [
  {
    name: 'files',
    skip: false,
    async open() {
      const root = await tempDir('hcp-contract-');
      const store = new ActionStore(root, () => clock);
      await store.ensureDirs();
      return { store, other: async () => new ActionStore(root, () => clock), close: () => removeDir(root) };
    },
  },
  {
    name: 'JetStream KV',
    skip: missing !== undefined,
    async open() {
      // A clean bucket for every test.
      const admin = await connect({ servers: nats!.url });
      await (await admin.jetstreamManager()).streams.delete(`KV_${ACTIONS_BUCKET}`).catch(() => undefined);
      await admin.close();
      const opened = [await openKvStore(nats!.url, () => clock)];
      return {
        store: opened[0]!.store,
        other: async () => {
          const o = await openKvStore(nats!.url, () => clock);
          opened.push(o);
          return o.store;
        },
        close: async () => {
          for (const o of opened) await o.close();
        },
      };
    },
  },
];

describe.each(backends)('the action store on $name', (backend) => {
  let o: Opened;
  let store: ActionBackend;
  beforeEach(async (ctx) => {
    if (backend.skip) return ctx.skip();
    clock = Date.parse('2026-05-27T14:00:00.000Z');
    o = await backend.open();
    store = o.store;
  });
  afterEach(async () => {
    await o?.close();
  });

  it('never opens an id twice', async () => {
    expect(await store.create(draft())).toMatchObject({ state: 'pending', history: [{ state: 'pending', by: 'supervisor' }] });
    expect(await store.create(draft())).toBeUndefined();
    await store.transition({ id: 'container-restart-n-s', from: 'pending', to: 'approved', by: 't' });
    expect(await store.create(draft())).toBeUndefined();
    expect((await store.listOpen()).map((a) => a.state)).toEqual(['approved']);
  });

  it('keeps every finished instance; a repeated instance gets a suffix, never overwrites', async () => {
    for (let i = 0; i < 3; i++) {
      const a = await store.create(draft());
      await store.transition({ id: a!.id, from: 'pending', to: 'cancelled', by: 't', patch: { cancel_reason: 'drift_resolved_auto' } });
    }
    expect((await store.history('container-restart-n-s')).map((a) => a.instance).sort()).toEqual(['20260527T140000Z', '20260527T140000Z-1', '20260527T140000Z-2']);
    expect((await store.finishedNames(['cancelled'])).map((n) => n.name).sort()).toEqual([
      'container-restart-n-s@20260527T140000Z-1.json',
      'container-restart-n-s@20260527T140000Z-2.json',
      'container-restart-n-s@20260527T140000Z.json',
    ]);
    expect(await store.read('cancelled', 'container-restart-n-s@20260527T140000Z-1.json')).toMatchObject({ instance: '20260527T140000Z-1', cancel_reason: 'drift_resolved_auto' });
    expect(await store.read('completed', 'container-restart-n-s@20260527T140000Z-1.json')).toBeUndefined();
    expect((await store.counts()).cancelled).toBe(3);
  });

  it('a button of an older instance changes nothing', async () => {
    const a = await store.create(draft());
    await store.transition({ id: a!.id, from: 'pending', to: 'cancelled', by: 't' });
    clock += 600_000;
    const b = await store.create(draft({ instance: '20260527T141000Z' }));
    const err = await store.transition({ id: b!.id, from: 'pending', to: 'approved', by: 't', instance: a!.instance }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransitionError);
    expect(err).toMatchObject({ code: 'stale_instance', current: { instance: b!.instance, state: 'pending' } });
    expect((await store.list('pending')).map((x) => x.instance)).toEqual([b!.instance]);
    expect(await store.list('approved')).toEqual([]);
    expect(await store.get(b!.id)).toMatchObject({ instance: b!.instance });
    expect(await store.find(a!.id, a!.instance)).toMatchObject({ state: 'cancelled' });
  });

  it('says what state an action is in when the move is no longer possible', async () => {
    const a = await store.create(draft());
    await store.transition({ id: a!.id, from: 'pending', to: 'rejected', by: 't' });
    const err = await store.transition({ id: a!.id, from: 'pending', to: 'approved', by: 't' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'wrong_state', current: { state: 'rejected' } });
    await expect(store.transition({ id: a!.id, from: 'completed', to: 'pending', by: 't' })).rejects.toThrow(/cannot move/);
    await expect(store.transition({ id: 'no-such', from: 'pending', to: 'approved', by: 't' })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('of racing transitions out of one state exactly one wins; the others say where it went', async () => {
    for (let round = 0; round < 20; round++) {
      const a = (await store.create(draft({ id: `container-restart-n-s${round}`, service: `s${round}` })))!;
      const moves = [
        { to: 'approved', by: 'telegram:1' },
        { to: 'rejected', by: 'cli:x' },
        { to: 'cancelled', by: 'supervisor' },
        { to: 'approved', by: 'telegram:2' },
      ] as const;
      const outcomes = await Promise.allSettled(moves.map((m) => store.transition({ id: a.id, instance: a.instance, from: 'pending', ...m })));
      const won = outcomes.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const state = (won[0] as PromiseFulfilledResult<{ state: string }>).value.state;
      for (const r of outcomes) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'wrong_state', current: { state } });
      expect((await store.history(a.id)).map((x) => x.history.length)).toEqual([2]);
    }
  });

  it('runs an action through its life and keeps the facts added after', async () => {
    // Retention reads the files' times too: this action lives on the wall clock.
    clock = Date.now() - 60_000;
    const a = (await store.create(draft()))!;
    await store.transition({ id: a.id, from: 'pending', to: 'approved', by: 't', patch: { approved_by: { via: 'cli', name: 'x' } } });
    await store.transition({ id: a.id, from: 'approved', to: 'running', by: 'executor' });
    clock += 5_000;
    const done = await store.transition({ id: a.id, from: 'running', to: 'completed', by: 'executor', patch: { finished_at: new Date(clock).toISOString() } });
    expect(done.history.map((h) => h.state)).toEqual(['pending', 'approved', 'running', 'completed']);
    expect(await store.annotate('completed', done, { verified: true })).toMatchObject({ state: 'completed', verified: true });
    expect(await store.find(a.id, a.instance)).toMatchObject({ verified: true, approved_by: { via: 'cli' } });
    expect(await store.annotate('failed', done, { x: 1 })).toBeUndefined();
    expect(await store.finishedSince(new Date(clock - 1).toISOString())).toHaveLength(1);
    expect(await store.finishedBefore(clock)).toHaveLength(0);
    expect(await store.finishedBefore(Date.now() + 1_000)).toHaveLength(1);
    const byType = await store.countsByType();
    expect(byType.find((c) => c.state === 'completed' && c.type === 'container_restart')!.n).toBe(1);
    // The id is free again.
    expect(await store.create(draft({ instance: '20260527T150000Z' }))).toMatchObject({ state: 'pending' });
    await store.removeFinished(done);
    expect(await store.find(a.id, a.instance)).toBeUndefined();
    expect((await store.history(a.id)).map((x) => x.instance)).toEqual(['20260527T150000Z']);
  });

  it('answers queries by node, service, id and time, newest first by default', async () => {
    for (const [i, node] of ['n1', 'n2', 'n1'].entries()) {
      clock += 1_000;
      await store.create(draft({ id: `redeploy-${node}-s${i}`, node, service: `s${i}`, type: 'redeploy', risk: 'guarded' }));
    }
    expect((await store.query({ node: 'n1' })).actions.map((a) => a.service)).toEqual(['s2', 's0']);
    expect((await store.query({ node: 'n1', order: 'oldest' })).actions.map((a) => a.service)).toEqual(['s0', 's2']);
    expect((await store.query({ service: 's1' })).total).toBe(1);
    expect((await store.query({ id: 'redeploy-n1-s2' })).actions).toHaveLength(1);
    expect((await store.query({ limit: 1 })).actions).toHaveLength(1);
    expect((await store.query({ limit: 1 })).total).toBe(3);
    expect((await store.query({ states: ['completed'] })).total).toBe(0);
    expect((await store.listOpenOrMoving()).map((a) => a.service)).toEqual(['s0', 's1', 's2']);
  });

  it('hands out actions callers cannot change', async () => {
    await store.create(draft());
    const [a] = await store.list('pending');
    expect(Object.isFrozen(a)).toBe(true);
    expect(() => {
      (a as { risk: string }).risk = 'guarded';
    }).toThrow();
    expect((await store.list('pending'))[0]!.risk).toBe('low');
  });

  it('a second store on the same data sees the first one\'s changes, and its own win or lose the same way', async () => {
    const other = await o.other();
    const a = (await store.create(draft()))!;
    await waitFor(async () => (await other.get(a.id))?.state === 'pending', { what: 'the other store to see the new action' });
    await other.transition({ id: a.id, from: 'pending', to: 'approved', by: 'cli:x' });
    await waitFor(async () => (await store.get(a.id))?.state === 'approved', { what: 'the first store to see the approval' });
    const mark = store.changeMark();
    const err = await store.transition({ id: a.id, from: 'pending', to: 'rejected', by: 'telegram:1' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'wrong_state', current: { state: 'approved' } });
    if (mark !== undefined) expect(store.changeMark()).toBe(mark);
    const both = await Promise.allSettled([store, other].map((s) => s.transition({ id: a.id, from: 'approved', to: 'running', by: 'executor' })));
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });
});
