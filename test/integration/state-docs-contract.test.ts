// The supervisor's state documents on both backends (store/doc-store.ts): state/'s files and
// JetStream KV on a real nats-server (bucket HOMELAB_STATE) — silences, maintenance, cooldowns, heal
// budgets, notices, removal confirmations, evidence, the record of interrupted operations, the last
// digest's mark, update checks and skips, the chat's button references. Windows are added, merged,
// removed and expired the same way on both; on KV two writers adding at once both keep theirs (a
// write is a compare-and-set on the revision read), a second reader (a standby, the next leader)
// sees what the first wrote, and the supervisor's write over a revision another writer moved is
// refused, not lost.
import { mkdir } from 'node:fs/promises';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KvDocs, STATE_BUCKET } from '../../src/nats/docs-kv.js';
import type { DocStore } from '../../src/store/doc-store.js';
import { SupervisorState } from '../../src/store/supervisor-state.js';
import { EvidenceStore, type Evidence } from '../../src/store/evidence.js';
import { KvEvidence } from '../../src/nats/evidence-kv.js';
import { InterruptedFile } from '../../src/store/interrupted.js';
import { DigestMark } from '../../src/store/digest-mark.js';
import { UpdatesStore } from '../../src/store/updates.js';
import { RefTable } from '../../src/bot/refs.js';
import { memoryLogger, removeDir, tempDir } from '../support/helpers.js';
import { natsMissing, startNats, type TestNats } from '../support/nats.js';

const missing = natsMissing();
let nats: TestNats | undefined;
let natsDir: string | undefined;
const conns: NatsConnection[] = [];
beforeAll(async () => {
  if (missing) return;
  natsDir = await tempDir('hcp-docs-kv-');
  nats = await startNats(natsDir);
});
afterAll(async () => {
  for (const c of conns) await c.close();
  await nats?.stop();
  if (natsDir) await removeDir(natsDir);
});

/** The documents of the KV state made last (a test's second reader makes its own). */
let lastDocs: DocStore | undefined;
const kvDocs = async (): Promise<DocStore> => {
  const nc = await connect({ servers: nats!.url });
  conns.push(nc);
  const d = new KvDocs();
  d.begin(nc);
  lastDocs = d;
  return d;
};

describe.each([
  { backend: 'files', skip: false },
  { backend: 'JetStream KV', skip: missing !== undefined },
])('state documents on $backend', ({ backend, skip }) => {
  let dir: string;
  let state: (second?: boolean) => Promise<SupervisorState>;
  beforeEach(async (ctx) => {
    if (skip) return ctx.skip();
    dir = await tempDir('hcp-docs-');
    if (backend === 'files') {
      state = async () => {
        const s = new SupervisorState(`${dir}/state`);
        await s.ensureDirs();
        return s;
      };
    }
    if (backend !== 'files') {
      const admin = await connect({ servers: nats!.url });
      await (await admin.jetstreamManager()).streams.delete(`KV_${STATE_BUCKET}`).catch(() => undefined);
      await admin.close();
      state = async () => new SupervisorState(`${dir}/state`, await kvDocs());
    }
  });
  afterEach(async () => {
    if (dir) await removeDir(dir);
  });

  const now = Date.parse('2026-12-03T10:00:00Z');
  /** The evidence store beside the state made last: its files, or KV on that state's connection. */
  const evidenceOf = (): EvidenceStore => {
    if (backend === 'files') return new EvidenceStore(`${dir}/actions/evidence`);
    const kv = new KvEvidence();
    kv.begin(conns.at(-1)!);
    return new EvidenceStore(`${dir}/actions/evidence`, kv);
  };

  it('adds, extends (never shortens), lists, removes and expires windows', async () => {
    const s = await state();
    const a = await s.silenceWindows.add('pi/web', 3_600_000, now, { reason: 'upgrading', by: 'ann' });
    const b = await s.silenceWindows.add('pi/web', 60_000, now, { by: 'bob' });
    expect(b).toMatchObject({ id: a.id, until: a.until, merged: true, by: 'bob' });
    await s.silenceWindows.add('nas', 60_000, now);
    expect((await s.silenceWindows.current(now)).map((x) => x.target).sort()).toEqual(['nas', 'pi/web']);
    expect(await s.silenceWindows.remove('nas')).toBe(1);
    expect(await s.silenceWindows.remove('nas')).toBe(0);
    expect((await s.silenceWindows.active(now + 3_600_001)).length).toBe(0);
    expect(await s.silenceWindows.all()).toEqual([]);
    await s.maintenanceWindows.add('pi', 60_000, now, { reason: 'disk' });
    expect((await s.maintenanceWindows.current(now)).map((x) => x.reason)).toEqual(['disk']);
    await expect(s.silenceWindows.add('a/b/c', 1, now)).rejects.toThrow(/silence target must be <node> or <node>\/<service>/);
  });

  it('two writers adding at once: both windows kept', async () => {
    const [x, y] = [await state(), await state()];
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? x : y).silenceWindows.add(`n${i}`, 60_000, now)));
    expect((await x.silenceWindows.current(now)).map((w) => w.target).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}`).sort());
  });

  it('cooldowns and heal budgets round-trip; on KV a write over a revision another writer moved is refused', async () => {
    const s = await state();
    expect(await s.cooldowns()).toEqual({});
    await s.saveCooldowns({ 'container-restart-pi-web': { node: 'pi', service: 'web', type: 'container_restart', count: 2, last_at: '2026-12-03T09:00:00.000Z' } });
    expect((await s.cooldowns())['container-restart-pi-web']!.count).toBe(2);
    expect(await s.healBudgets()).toEqual({});
    const other = await state();
    await other.cooldowns();
    await other.saveCooldowns({});
    if (backend === 'files') return;
    // `s` read before `other` wrote: its write is refused, and the next read sees `other`'s.
    await expect(s.saveCooldowns({ x: { node: 'pi', service: null, type: 'disk_cleanup', count: 1, last_at: '2026-12-03T09:00:00.000Z' } })).rejects.toThrow(/changed by another writer since it was read/);
    expect(await s.cooldowns()).toEqual({});
  });

  it('notices open, update, close and go after a week; a second reader (a standby) sees them on KV', async () => {
    const s = await state();
    const silent = { key: 'node-silent-pi', kind: 'node_silent' as const, node: 'pi', message: 'pi silent for 5 min', revision: 'a' };
    expect(await s.reconcileNotices([silent], now)).toEqual({ opened: ['node-silent-pi'], updated: [], closed: [] });
    expect(await s.reconcileNotices([silent], now + 1000)).toEqual({ opened: [], updated: [], closed: [] });
    expect(await s.reconcileNotices([{ ...silent, message: 'pi silent for 10 min', revision: 'b' }], now + 2000)).toEqual({ opened: [], updated: ['node-silent-pi'], closed: [] });
    await s.recordNotice({ key: 'maintenance-ended-pi', kind: 'maintenance_ended', node: 'pi', message: 'over', revision: 'x' }, now + 2500);
    expect(await s.reconcileNotices([], now + 3000)).toEqual({ opened: [], updated: [], closed: ['node-silent-pi'] });
    const listed = await s.notices();
    expect(listed.map((n) => [n.key, n.state, n.seq])).toEqual([['node-silent-pi', 'closed', 2], ['maintenance-ended-pi', 'closed', 1]]);
    expect(listed[0]).toMatchObject({ message: 'pi silent for 10 min', opened_at: new Date(now).toISOString(), closed_at: new Date(now + 3000).toISOString() });
    // Open again: a new opening, its seq bumped.
    expect((await s.reconcileNotices([silent], now + 4000)).opened).toEqual(['node-silent-pi']);
    expect((await s.notices()).find((n) => n.key === 'node-silent-pi')).toMatchObject({ state: 'open', seq: 3, opened_at: new Date(now + 4000).toISOString() });
    await s.reconcileNotices([], now + 8 * 86_400_000);
    expect((await s.notices()).map((n) => n.key)).toEqual(['node-silent-pi']);
    expect((await s.reconcileNotices([], now + 16 * 86_400_000)).closed).toEqual([]);
    expect(await s.notices()).toEqual([]);
    if (backend === 'files') return;
    await s.reconcileNotices([silent], now);
    const standby = await state();
    expect((await standby.notices()).map((n) => [n.key, n.state])).toEqual([['node-silent-pi', 'open']]);
    // A new leader goes on with the notice: the same level opens nothing again.
    expect(await standby.reconcileNotices([silent], now + 60_000)).toEqual({ opened: [], updated: [], closed: [] });
  });

  it('evidence is written once, read back, removed; on KV another reader (a standby) that looked too early sees it once written', async () => {
    await state();
    const leader = evidenceOf();
    const standby = backend === 'files' ? leader : (await state(), evidenceOf());
    const e: Evidence = { version: 1, id: 'container-restart-pi-web.v2', instance: '20261203T100000Z', node: 'pi', service: 'web.v2', collected_at: '2026-12-03T10:00:01.000Z', containers: [], error: "pi's engine unreachable" };
    expect(await standby.get(e.id, e.instance)).toBeUndefined();
    await leader.write(e);
    expect(await standby.get(e.id, e.instance)).toEqual(e);
    expect(await leader.facts(e.id, e.instance)).toEqual(["pi's engine unreachable"]);
    await leader.remove(e.id, e.instance);
    expect(await leader.get(e.id, e.instance)).toBeUndefined();
    await state();
    expect(await evidenceOf().get(e.id, e.instance)).toBeUndefined();
    await expect(leader.write({ ...e, id: '../x' })).rejects.toThrow(/unusable id/);
  });

  it('the record of interrupted operations: what one leader saved, the next loads; on KV a write over another leader\'s is refused', async () => {
    await state();
    const record = (): InterruptedFile => (backend === 'files' ? new InterruptedFile(`${dir}/state/interrupted-redeploys.json`) : new InterruptedFile(undefined, undefined, lastDocs!));
    const old = record();
    expect(await old.load()).toEqual([]);
    const item = { id: 'container-restart-pi-web', instance: '20261203T100000Z', node: 'pi', containers: ['web'], restart: true as const };
    await old.save([item]);
    await state();
    const next = record();
    expect(await next.load()).toEqual([item]);
    await next.save([]);
    if (backend === 'files') return;
    await expect(old.save([item, item])).rejects.toThrow(/changed by another control plane since this one read it/);
    expect(await record().load()).toEqual([]);
  });

  it('the last digest\'s mark: none, then the time sent; on KV the next leader\'s digest starts from it', async () => {
    await state();
    // The bot makes state/telegram/ at its start.
    await mkdir(`${dir}/state/telegram`, { recursive: true });
    const mark = (): DigestMark => (backend === 'files' ? new DigestMark(`${dir}/state`, memoryLogger().log) : new DigestMark(`${dir}/state`, memoryLogger().log, lastDocs!));
    expect(await mark().lastAt()).toBeNull();
    await mark().sent(now);
    await state();
    expect(await mark().lastAt()).toBe(new Date(now).toISOString());
  });

  it('update checks and skips: saved, narrowed, skipped; on KV another reader (the next leader) has them after a refresh', async () => {
    await state();
    const store = (): UpdatesStore => new UpdatesStore({ worldUpdates: `${dir}/world/updates.json`, updateSkips: `${dir}/state/update-skips.json` }, backend === 'files' ? undefined : lastDocs!);
    const leader = store();
    await leader.refresh();
    expect(leader.updates()).toEqual({});
    const entry = (service: string) => ({ node: 'pi', service, checked_at: '2026-12-03T10:00:00.000Z', images: [] });
    await leader.save([entry('web'), entry('db')]);
    await leader.save([{ ...entry('web'), error: 'registry unreachable' }]);
    await leader.keepOnly(new Set(['pi/web']));
    await leader.skip('pi/web', { digest: 'sha256:aa', at: '2026-12-03T10:00:00.000Z', reason: 'skipped', by: 'ann' });
    await leader.skip('pi/web', { digest: 'sha256:aa', at: '2026-12-03T10:01:00.000Z', reason: 'skipped', by: 'bob' });
    expect(leader.updates()).toEqual({ 'pi/web': { ...entry('web'), error: 'registry unreachable' } });
    expect(leader.skips()['pi/web']!.map((x) => x.by)).toEqual(['bob']);
    await state();
    const next = store();
    await next.refresh();
    expect(next.updates()).toEqual(leader.updates());
    expect(next.skips()).toEqual(leader.skips());
  });

  it('the chat\'s button references: entered by one leader, resolved by the next after its load', async () => {
    await state();
    const table = (): RefTable => new RefTable(`${dir}/state/telegram/refs.json`, () => now, memoryLogger().log, backend === 'files' ? undefined : lastDocs!);
    const old = table();
    await old.load();
    const ref = old.ref('digest:2026-12-03T08:00:00.000Z');
    await old.flushed();
    await state();
    const next = table();
    expect(next.resolve(ref)).toBeUndefined();
    await next.load();
    expect(next.resolve(ref)).toBe('digest:2026-12-03T08:00:00.000Z');
  });

  it('removal confirmations are recorded, listed and cleared; on KV the leader sees one given anywhere', async () => {
    const s = await state();
    expect(await s.pendingConfirmations()).toEqual([]);
    await s.confirmRemoval('pi', 'ann', now);
    await s.confirmRemoval('nas', 'bob', now);
    await expect(s.confirmRemoval('../x', 'eve', now)).rejects.toThrow(/not a node name/);
    const leader = backend === 'files' ? s : await state();
    expect((await leader.pendingConfirmations()).sort()).toEqual(['nas', 'pi']);
    await leader.clearConfirmation('pi');
    await leader.clearConfirmation('pi');
    expect(await s.pendingConfirmations()).toEqual(['nas']);
  });
});
