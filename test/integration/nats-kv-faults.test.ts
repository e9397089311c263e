// The actions in JetStream KV when NATS misbehaves, against a real nats-server (Debian's 2.9): a
// transition whose acknowledgement is lost after the write landed is the caller's (a claim is not
// refused as "already running" and left to no one), one that did not land says the error and
// changes nothing; and a store follows the bucket across a server killed and started again.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { actionDraft, removeDir, tempDir, waitFor } from '../support/helpers.js';
import { natsMissing, openKvStore, startNats, type TestNats } from '../support/nats.js';

const missing = natsMissing();

describe.skipIf(missing !== undefined)('actions in NATS KV under faults', () => {
  let root: string;
  let nats: TestNats;
  const closers: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    root = await tempDir('hcp-kv-faults-');
    nats = await startNats(root);
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) await c().catch(() => {});
    await nats.stop();
    await removeDir(root);
  });

  const open = async () => {
    const o = await openKvStore(nats.url);
    closers.push(o.close);
    return o.store;
  };

  /** The store's bucket with its next update failing: after it reached the server, or before. */
  const failNextUpdate = (store: object, after: boolean) => {
    const kv = (store as { kv: { update: (...a: unknown[]) => Promise<number> } }).kv;
    const real = kv.update.bind(kv);
    kv.update = async (...a: unknown[]) => {
      kv.update = real;
      if (after) await real(...a);
      throw Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' });
    };
  };

  it('a claim whose acknowledgement was lost is the caller\'s; one that never landed says the error and changes nothing', async () => {
    const store = await open();
    const a = (await store.create(actionDraft()))!;
    await store.transition({ id: a.id, from: 'pending', to: 'approved', by: 'cli:ann' });
    failNextUpdate(store, false);
    await expect(store.transition({ id: a.id, from: 'approved', to: 'running', by: 'executor' })).rejects.toThrow(/TIMEOUT/);
    expect((await store.get(a.id))!.state).toBe('approved');
    failNextUpdate(store, true);
    const running = await store.transition({ id: a.id, from: 'approved', to: 'running', by: 'executor' });
    expect(running.state).toBe('running');
    const other = await open();
    await waitFor(async () => (await other.get(a.id))?.state === 'running', { what: 'the claim in the bucket' });
    expect((await other.get(a.id))!.history.map((h) => h.state)).toEqual(['pending', 'approved', 'running']);
  });

  it('a store follows the bucket across a server killed and started again', async () => {
    const a = await open();
    const made = (await a.create(actionDraft()))!;
    await nats.stop(true);
    await nats.start();
    // Another process, connected after the restart, approves it.
    const b = await open();
    await waitFor(async () => (await b.get(made.id))?.state === 'pending', { what: 'the action kept by the server' });
    await b.transition({ id: made.id, from: 'pending', to: 'approved', by: 'cli:ann' });
    await waitFor(async () => (await a.get(made.id))?.state === 'approved', { what: 'the first store to hear of the approval after the restart', timeoutMs: 30_000 });
    const done = await a.transition({ id: made.id, from: 'approved', to: 'running', by: 'executor' });
    expect(done.history.map((h) => h.state)).toEqual(['pending', 'approved', 'running']);
    // Nothing else in the bucket: the restart brought no entry twice.
    expect((await a.query({ states: ['pending', 'approved', 'running'], limit: Infinity })).total).toBe(1);
  });
});
