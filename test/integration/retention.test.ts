// Event retention (docs/design/files.md "Retention"): old days folded into the snapshot and
// removed once the checkpoint has applied them; a replay afterwards gives the same world.
import { appendFile, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { EventRetention, type ObserverView } from '../../src/loops/event-retention.js';
import { Observer } from '../../src/loops/observer.js';
import { startControlPlane } from '../../src/main.js';
import { ensureLayout, layout, type Layout } from '../../src/store/paths.js';
import { appendEvents, eventLine, memoryLogger, removeDir, tempDir, waitFor, writeHosts, type Ev } from '../support/helpers.js';

const DAY = 86_400_000;
const START = Date.parse('2026-05-27T15:00:00.000Z');

let root: string;
let hosts: string;
let l: Layout;
let now = START;

beforeEach(async () => {
  root = await tempDir('hcp-ret-');
  hosts = path.join(root, 'hosts');
  await writeHosts(hosts, { a: 'services:\n  web: {}\n  db: {}\n', b: 'services:\n  x: {}\n  backup: {}\n' });
  l = layout(path.join(root, 'homelab'));
  await ensureLayout(l);
  now = START;
});
afterEach(async () => {
  await removeDir(root);
});

function config() {
  return loadConfig({ HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, EVENTS_RETENTION_DAYS: '5' });
}

const desired = () => ({
  a: { node: 'a', services: { web: { service: 'web', monitor: true }, db: { service: 'db', monitor: true } } },
  b: { node: 'b', services: { x: { service: 'x', monitor: true }, backup: { service: 'backup', monitor: true } } },
}) as never;

/** An observer whose passes also write their files (they trail the world by PERSIST_MS). */
async function observer(fresh = false) {
  const mem = memoryLogger();
  const o = new Observer({ layout: l, config: config(), log: mem.log, now: () => now, desired });
  if (fresh) await o.initFresh();
  else await o.init();
  const pass = async () => {
    const s = await o.pass();
    await o.flush();
    return s;
  };
  return { o, pass, mem };
}

/** The observer as retention sees it, for a test to change one part of. */
const viewOf = (o: Observer): ObserverView => ({
  configFingerprint: o.configFingerprint,
  persisted: () => o.persisted(),
  readPositions: () => o.readPositions(),
  exclusive: (fn) => o.exclusive(fn),
});

function retention(o: ObserverView, days = 5) {
  const cfg = config();
  return new EventRetention({ layout: l, days, config: cfg, observer: o, log: memoryLogger().log, now: () => now });
}

const ts = (daysAgo: number, hour: number, minute = 0) => new Date(Date.parse('2026-05-27T00:00:00.000Z') - daysAgo * DAY + hour * 3_600_000 + minute * 60_000).toISOString();
const day = (daysAgo: number) => ts(daysAgo, 0).slice(0, 10);
const hb = (node: string, daysAgo: number, hour: number, seq?: number): Ev => ({ ts: ts(daysAgo, hour), node, type: 'node_heartbeat', ...(seq !== undefined ? { seq } : {}) });
const svc = (node: string, service: string, type: string, daysAgo: number, hour: number): Ev => ({ ts: ts(daysAgo, hour), node, type, service });

/** Days 10, 6 and 3 old and today: incidents, a reason that changes, a ghost no hosts file names. */
async function writeHistory(): Promise<void> {
  await appendEvents(l.root, [
    hb('a', 10, 1), svc('a', 'web', 'service_healthy', 10, 1), svc('a', 'web', 'containers_not_running', 10, 2), svc('a', 'gone', 'service_healthy', 10, 3),
    svc('a', 'db', 'service_healthy', 10, 4), hb('b', 10, 1), svc('b', 'x', 'service_healthy', 10, 1),
  ]);
  await appendEvents(l.root, [hb('a', 6, 1), svc('a', 'web', 'service_recovered', 6, 1), svc('a', 'db', 'healthcheck_failed', 6, 2), hb('b', 6, 1), svc('b', 'x', 'mqtt_unreachable', 6, 3)]);
  await appendEvents(l.root, [hb('a', 3, 1), svc('a', 'db', 'containers_not_running', 3, 2), hb('b', 3, 1), svc('b', 'x', 'service_healthy', 3, 3)]);
  await appendEvents(l.root, [hb('a', 0, 14), svc('a', 'db', 'service_healthy', 0, 14), hb('b', 0, 14)]);
}

const worldFiles = async () => ({ services: await readFile(l.worldServices, 'utf8'), nodes: await readFile(l.worldNodes, 'utf8') });
const days = async () => (await readdir(l.events)).filter((d) => !d.startsWith('.')).sort();

/** A replay from nothing but the snapshot and the days kept (a deleted checkpoint), in a new observer. */
async function replayedWorld() {
  const r = await observer(true);
  await r.pass();
  return worldFiles();
}

describe('event retention', () => {
  it('removes the days older than the retention once applied, keeps the rest, and a replay gives the same world', async () => {
    await writeHistory();
    const live = await observer();
    await live.pass();
    const before = await worldFiles();
    const services = JSON.parse(before.services) as Record<string, { status: string; last_incident: unknown }>;
    expect(services['a/web']!.last_incident).toMatchObject({ reason: 'containers_not_running' });
    expect(services['a/gone']).toBeUndefined(); // pruned: no hosts file names it, silent for days

    const report = await retention(live.o).pass();
    expect(report.daysRemoved).toEqual([day(10), day(6)]);
    expect(await days()).toEqual([day(3), day(0)]);
    await live.pass();
    expect(await worldFiles()).toEqual(before);
    expect(await replayedWorld()).toEqual(before);
    // The bot's replay (requestReplay) starts from the snapshot too.
    live.o.requestReplay();
    await live.pass();
    expect(await worldFiles()).toEqual(before);

    // Three days on, the 3-day-old day is old too: folded onto the snapshot, not the live model.
    now = START + 3 * DAY;
    await appendEvents(l.root, [{ ts: new Date(now - 60_000).toISOString(), node: 'a', type: 'node_heartbeat' }]);
    await live.pass();
    const later = await worldFiles();
    const second = await retention(live.o).pass();
    expect(second.daysRemoved).toEqual([day(3)]);
    expect(await replayedWorld()).toEqual(later);
  });

  it('a late event for a removed day (a spool delivered after days offline) is applied live, folded later, and replays the same', async () => {
    await writeHistory();
    const live = await observer();
    await live.pass();
    await retention(live.o).pass();
    expect(await days()).toEqual([day(3), day(0)]);
    // Node b's spool brings a service from eight days ago: its day comes back, and is read.
    await appendEvents(l.root, [svc('b', 'backup', 'containers_not_running', 8, 5), hb('b', 8, 5), svc('b', 'backup', 'service_recovered', 8, 6)]);
    await live.pass();
    const withLate = await worldFiles();
    expect(JSON.parse(withLate.services)['b/backup']).toMatchObject({ status: 'healthy', last_incident: { reason: 'containers_not_running' } });
    const r = await retention(live.o).pass();
    expect(r.daysRemoved).toEqual([day(8)]);
    await live.pass();
    expect(await worldFiles()).toEqual(withLate);
    expect(await replayedWorld()).toEqual(withLate);
  });

  it('keeps an old file until the checkpoint has applied all of it', async () => {
    await writeHistory();
    const live = await observer();
    await live.pass();
    // Appended after the last pass: the checkpoint has not applied it yet.
    await appendFile(path.join(l.events, day(6), 'b.jsonl'), eventLine(hb('b', 6, 9)));
    const first = await retention(live.o).pass();
    expect(first.daysRemoved).toEqual([day(10)]);
    expect(first.waiting).toBeGreaterThan(0);
    expect(await days()).toEqual([day(6), day(3), day(0)]);
    await live.pass();
    const before = await worldFiles();
    const second = await retention(live.o).pass();
    expect(second.daysRemoved).toEqual([day(6)]);
    expect(await replayedWorld()).toEqual(before);
  });

  it('a stop between writing the snapshot and removing the days: a replay reads each event once', async () => {
    await writeHistory();
    const live = await observer();
    await live.pass();
    const before = await worldFiles();
    const stopped = { ...viewOf(live.o), exclusive: () => Promise.reject(new Error('stopped before the removal')) };
    await expect(retention(stopped).pass()).rejects.toThrow('stopped before the removal');
    expect((await stat(l.eventsSnapshot)).isFile()).toBe(true);
    expect(await days()).toEqual([day(10), day(6), day(3), day(0)]);
    expect(await replayedWorld()).toEqual(before);
    // The next pass folds nothing twice and removes the days.
    const r = await retention(live.o).pass();
    expect(r.daysRemoved).toEqual([day(10), day(6)]);
    expect(await replayedWorld()).toEqual(before);
  });

  it('a checkpoint behind the snapshot (restored from a backup): nothing folded twice, the days wait', async () => {
    await writeHistory();
    const live = await observer();
    await live.pass();
    const before = await worldFiles();
    // A stop before the removal leaves the days and a snapshot that holds them…
    await expect(retention({ ...viewOf(live.o), exclusive: () => Promise.reject(new Error('stopped')) }).pass()).rejects.toThrow('stopped');
    // …then a checkpoint from before those days were read is put back.
    const r = await retention({ ...viewOf(live.o), persisted: () => ({}) }).pass();
    expect(r).toMatchObject({ removed: 0 });
    expect(r.waiting).toBeGreaterThan(0);
    const halfway = Object.fromEntries(Object.entries(live.o.persisted()).map(([n, days]) => [n, Object.fromEntries(Object.entries(days).map(([d, p]) => [d, { ...p, offset: Math.floor(p.offset / 2) }]))]));
    const r2 = await retention({ ...viewOf(live.o), persisted: () => halfway }).pass();
    expect(r2).toMatchObject({ removed: 0 });
    expect(await replayedWorld()).toEqual(before);
  });

  it('a day file larger than the fold reads at a time (1 MiB) is folded whole, each line once', async () => {
    await writeHistory();
    const many: Ev[] = Array.from({ length: 12_000 }, (_, i) => ({ ts: new Date(Date.parse(ts(7, 0)) + i * 5000).toISOString(), node: 'b', type: i % 500 === 0 ? 'mqtt_unreachable' : i % 500 === 1 ? 'service_healthy' : 'node_heartbeat', ...(i % 500 < 2 ? { service: 'x' } : {}), seq: i + 1, agent: 'big' }));
    await appendEvents(l.root, many);
    expect((await stat(path.join(l.events, day(7), 'b.jsonl'))).size).toBeGreaterThan(1024 * 1024);
    const live = await observer();
    await live.pass();
    const before = await worldFiles();
    const r = await retention(live.o).pass();
    expect(r.daysRemoved).toEqual([day(10), day(7), day(6)]);
    expect(r.applied).toBeGreaterThan(12_000);
    expect(await replayedWorld()).toEqual(before);
  });

  it('an unreadable snapshot is never written over: retention pauses, says so once, removes nothing', async () => {
    await writeHistory();
    const live = await observer();
    await live.pass();
    await writeFile(l.eventsSnapshot, '{"version": 1, "cut off');
    const mem = memoryLogger();
    const r = new EventRetention({ layout: l, days: 5, config: config(), observer: live.o, log: mem.log, now: () => now });
    expect(await r.pass()).toMatchObject({ removed: 0 });
    expect(await r.pass()).toMatchObject({ removed: 0 });
    expect(await readFile(l.eventsSnapshot, 'utf8')).toBe('{"version": 1, "cut off');
    expect(await days()).toHaveLength(4);
    expect(mem.lines.filter((x) => typeof x.msg === 'string' && x.msg.startsWith('event retention paused'))).toHaveLength(1);
    // Moved aside: a new snapshot starts, and the old days go.
    await rm(l.eventsSnapshot);
    expect((await r.pass()).daysRemoved).toEqual([day(10), day(6)]);
  });

  it('an empty file of an old day goes with its day', async () => {
    await writeHistory();
    await writeFile(path.join(l.events, day(10), 'c.jsonl'), '');
    const live = await observer();
    await live.pass();
    expect((await retention(live.o).pass()).daysRemoved).toEqual([day(10), day(6)]);
  });

  it('EVENTS_RETENTION_DAYS=0 keeps every day', async () => {
    await writeHistory();
    const live = await observer();
    await live.pass();
    expect((await retention(live.o, 0).pass()).removed).toBe(0);
    expect(await days()).toHaveLength(4);
  });
});

describe('retention in the running control plane', () => {
  it('runs at start: the old day goes, and the bytes of each kind show in /metrics and /summary', async () => {
    const real = Date.now();
    const iso = (t: number) => new Date(t).toISOString();
    await appendEvents(l.root, [{ ts: iso(real - 10 * DAY), node: 'a', type: 'node_heartbeat' }, { ts: iso(real - 10 * DAY), node: 'a', type: 'service_healthy', service: 'web' }]);
    await appendEvents(l.root, [{ ts: iso(real - 60_000), node: 'a', type: 'node_heartbeat' }]);
    const running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, EVENTS_RETENTION_DAYS: '5' }), memoryLogger().log);
    try {
      await waitFor(async () => (await days()).length === 1, { what: 'the old day removed' });
      const summary = await waitFor(async () => {
        const s = (await (await fetch(`${running.address}/summary`)).json()) as { data?: { bytes: Record<string, number>; retention: unknown } };
        return s.data;
      }, { what: 'data in /summary' });
      expect(summary.bytes.events).toBeGreaterThan(0);
      expect(summary.bytes.snapshot).toBeGreaterThan(0);
      expect(summary.retention).toEqual({ events_days: 5, actions_days: 90, archive: false });
      const metrics = await (await fetch(`${running.address}/metrics`)).text();
      expect(metrics).toMatch(/^homelab_data_bytes\{kind="events"\} [1-9]\d*$/m);
      expect(metrics).toMatch(/^homelab_data_bytes\{kind="archive"\} 0$/m);
      // The world kept what the removed day said.
      expect(JSON.parse(await readFile(l.worldServices, 'utf8'))['a/web']).toMatchObject({ status: 'healthy' });
    } finally {
      await running.stop();
    }
  });
});
