import { appendFile, mkdir, readFile, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Observer } from '../../src/loops/observer.js';
import { LARGE_WRITE_AFTER_MS } from '../../src/loops/observer-texts.js';
import { stableJson } from '../../src/store/atomic.js';
import { FakeClock } from '../../src/time/clock.js';
import type { DesiredState } from '../../src/domain/schemas.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { ensureLayout, layout, type Layout } from '../../src/store/paths.js';
import { startRunChild } from '../support/child.js';
import { appendEvents, eventLine, memoryLogger, removeDir, tempDir, waitFor, writeHosts, type Ev } from '../support/helpers.js';

const NOW = Date.parse('2026-05-27T15:00:00.000Z');
const DAY1 = '2026-05-27';

let root: string;
let hosts: string;
let l: Layout;

beforeEach(async () => {
  root = await tempDir('hcp-obs-');
  hosts = path.join(root, 'hosts');
  await writeHosts(hosts, { 'chelsty-infra': 'services:\n  zigbee2mqtt: {}\n  mosquitto: {}\n' });
  l = layout(path.join(root, 'homelab'));
  await ensureLayout(l);
});
afterEach(async () => {
  await removeDir(root);
});

function makeObserver(opts: { chunkKb?: number; now?: number; aliases?: Record<string, string>; desired?: DesiredState } = {}) {
  const cfg = loadConfig({
    HOMELAB_ROOT: l.root,
    HOSTS_DIR: hosts,
    OBSERVER_CHUNK_KB: String(opts.chunkKb ?? 1024),
    NODE_ALIAS_MAP: JSON.stringify(opts.aliases ?? {}),
  });
  const mem = memoryLogger();
  const observer = new Observer({ layout: l, config: cfg, log: mem.log, now: () => opts.now ?? NOW, desired: () => opts.desired ?? {} });
  // A pass and the writes that follow it (the files trail the world in memory by PERSIST_MS).
  const pass = observer.pass.bind(observer);
  observer.pass = async () => {
    const s = await pass();
    await observer.flush();
    return s;
  };
  return { observer, mem };
}

function at(minute: number, second = 0): string {
  return new Date(Date.parse(`${DAY1}T14:00:00.000Z`) + minute * 60_000 + second * 1000).toISOString();
}

function ev(type: string, ts: string, service?: string, node = 'chelsty-infra'): Ev {
  return service ? { ts, node, type, service } : { ts, node, type };
}

const eventsFile = (node = 'chelsty-infra', day = DAY1) => path.join(l.events, day, `${node}.jsonl`);
const world = async () => JSON.parse(await readFile(l.worldServices, 'utf8')) as Record<string, { status: string; reason: string | null }>;

describe('observer on real files', () => {
  it('a torn final line is read exactly once, when its newline arrives', async () => {
    const { observer } = makeObserver();
    await observer.init();
    const line = eventLine(ev('containers_not_running', at(1), 'zigbee2mqtt'));
    await mkdir(path.dirname(eventsFile()), { recursive: true });
    await writeFile(eventsFile(), line.slice(0, 30));
    let s = await observer.pass();
    expect(s.lines).toBe(0);
    expect(await world()).toEqual({});
    await appendFile(eventsFile(), line.slice(30, -1));
    s = await observer.pass();
    expect(s.lines).toBe(0);
    await appendFile(eventsFile(), '\n');
    s = await observer.pass();
    expect(s).toMatchObject({ lines: 1, applied: 1, malformed: 0 });
    expect((await world())['chelsty-infra/zigbee2mqtt']).toMatchObject({ status: 'unhealthy' });
    s = await observer.pass();
    expect(s.lines).toBe(0);
    expect(observer.counters().applied).toBe(1);
  });

  it('follows day rollover, and a late append to the previous day', async () => {
    // The clock is past midnight: events of the new day are not ahead of it.
    const { observer } = makeObserver({ now: Date.parse('2026-05-28T00:00:30.000Z') });
    await observer.init();
    await appendEvents(l.root, [ev('containers_not_running', at(1), 'zigbee2mqtt')]);
    await observer.pass();
    await appendEvents(l.root, [ev('service_healthy', '2026-05-28T00:00:05.000Z', 'zigbee2mqtt')]);
    await observer.pass();
    expect((await world())['chelsty-infra/zigbee2mqtt']!.status).toBe('healthy');
    await appendEvents(l.root, [ev('mqtt_unreachable', at(2), 'mosquitto')]);
    const s = await observer.pass();
    expect(s.applied).toBe(1);
    expect((await world())['chelsty-infra/mosquitto']!.reason).toBe('mqtt_unreachable');
  });

  it('a restart resumes from the checkpoint without re-reading, and deleting the checkpoint replays to the same world', async () => {
    const events: Ev[] = [];
    for (let i = 0; i < 500; i++) events.push(ev(i % 3 ? 'service_healthy' : 'healthcheck_failed', at(i % 50, i % 60), `svc-${i % 20}`));
    await appendEvents(l.root, events);
    const a = makeObserver();
    await a.observer.init();
    expect((await a.observer.pass()).lines).toBe(500);
    const before = await readFile(l.worldServices, 'utf8');

    const b = makeObserver();
    await b.observer.init();
    expect((await b.observer.pass()).lines).toBe(0);
    expect(b.observer.totals.bytes).toBe(0);
    await appendEvents(l.root, [ev('service_healthy', at(59), 'svc-0')]);
    expect((await b.observer.pass()).lines).toBe(1);
    const after = await readFile(l.worldServices, 'utf8');

    await rm(l.checkpoint);
    const c = makeObserver();
    await c.observer.init();
    expect((await c.observer.pass()).lines).toBe(501);
    expect(await readFile(l.worldServices, 'utf8')).toBe(after);
    expect(after).not.toBe(before);
    // The files are written from per-service texts: the same bytes as the whole world serialised,
    // and a checkpoint that reads back to the same model.
    expect(after).toBe(stableJson(c.observer.current().services));
    expect(await readFile(l.worldNodes, 'utf8')).toBe(stableJson(c.observer.current().nodes));
    const cp = JSON.parse(await readFile(l.checkpoint, 'utf8'));
    expect(Object.keys(cp.model.services)).toHaveLength(20);
    expect(cp.model.services['chelsty-infra/svc-0']).toEqual(c.observer.current().services['chelsty-infra/svc-0']);
    expect(cp.model.services['chelsty-infra/svc-0'].node).toBe('chelsty-infra');
    expect(cp.model.counters.applied).toBe(501);
  });

  it('a checkpoint written after each pass, per node, reads back as the checkpoint of a replay of the same events', async () => {
    await writeHosts(hosts, { 'chelsty-infra': 'services:\n  zigbee2mqtt: {}\n', piha: 'services:\n  web: {}\n', pi2: 'services:\n  db: {}\n' });
    // One desired state throughout: a render after a pass looks only at the nodes it read.
    const desired: DesiredState = {};
    const a = makeObserver({ desired });
    await a.observer.init();
    const steps: Ev[][] = [
      [ev('service_healthy', at(1), 'zigbee2mqtt'), ev('node_heartbeat', at(1), undefined, 'piha')],
      [ev('healthcheck_failed', at(2), 'web', 'piha')],
      // A node heard of for the first time, then only a heartbeat of another (no service changes).
      [ev('service_healthy', at(3), 'db', 'pi2')],
      [ev('node_heartbeat', at(4))],
      [ev('service_healthy', at(5), 'web', 'piha'), ev('container_restarted', at(5), 'db', 'pi2')],
    ];
    for (const step of steps) {
      await appendEvents(l.root, step);
      expect((await a.observer.pass()).lines).toBe(step.length);
    }
    const incremental = JSON.parse(await readFile(l.checkpoint, 'utf8'));
    await rm(l.checkpoint);
    const b = makeObserver();
    await b.observer.init();
    expect((await b.observer.pass()).lines).toBe(7);
    expect(incremental).toEqual(JSON.parse(await readFile(l.checkpoint, 'utf8')));
    expect(incremental.model.nodes['chelsty-infra'].last_seen).toBe(at(4));
    expect(Object.keys(incremental.positions).sort()).toEqual(['chelsty-infra', 'pi2', 'piha']);
  });

  it('lines stamped ahead of the clock (this machine stepped back): one summary a minute, not a warning per line', async () => {
    let now = Date.parse(`${DAY1}T12:00:00.000Z`);
    const mem = memoryLogger();
    const cfg = loadConfig({ HOMELAB_ROOT: l.root, HOSTS_DIR: hosts });
    const observer = new Observer({ layout: l, config: cfg, log: mem.log, now: () => now, desired: () => ({}) });
    await observer.init();
    const early = (node: string, i: number): Ev => ({ ts: new Date(now + 3_600_000 + i * 1000).toISOString(), node, type: 'node_heartbeat' });
    for (const node of ['n1', 'n2', 'n3']) await appendEvents(l.root, Array.from({ length: 30 }, (_, i) => early(node, i)));
    await observer.pass();
    const summaries = () => mem.lines.filter((x) => typeof x.msg === 'string' && x.msg.includes("ahead of this machine's clock"));
    expect(summaries()).toHaveLength(1);
    expect(summaries()[0]).toMatchObject({ count: 90, by_node: { n1: 30, n2: 30, n3: 30 } });
    expect(String(summaries()[0]!.msg)).toMatch(/up to 3629 s ahead .*n1, n2, n3.*clock is behind/);
    expect(mem.lines.filter((x) => x.msg === 'skipped malformed event line')).toHaveLength(0);
    expect(observer.counters().malformed).toBe(90);
    // More within the minute: counted, said in the next summary.
    await appendEvents(l.root, [early('n1', 40)]);
    await observer.pass();
    expect(summaries()).toHaveLength(1);
    now += 61_000;
    await observer.pass();
    expect(summaries()).toHaveLength(2);
    expect(summaries()[1]).toMatchObject({ count: 1, by_node: { n1: 1 } });
    await observer.flush();
  });

  it('skips and counts 1 % garbage lines, logs each with file and line, and the world stays right', async () => {
    const clean: string[] = [];
    for (let i = 0; i < 2000; i++) clean.push(eventLine(ev(i % 2 ? 'service_healthy' : 'containers_not_running', at(i % 59, i % 60), `svc-${i % 40}`)));
    const garbage = ['{', 'not json', '{"ts":"x"}', '\u0000\u0000', '{"ts":"2026-05-27T14:00:00Z","node":"piha","type":"node_heartbeat"}'];
    const dirty: string[] = [];
    clean.forEach((line, i) => {
      dirty.push(line);
      if (i % 100 === 50) dirty.push(`${garbage[(i / 100) % garbage.length | 0]}\n`);
    });
    await mkdir(path.dirname(eventsFile()), { recursive: true });
    await writeFile(eventsFile(), clean.join(''));
    const ref = makeObserver();
    await ref.observer.init();
    await ref.observer.pass();
    const expected = await readFile(l.worldServices, 'utf8');

    await rm(l.checkpoint);
    await writeFile(eventsFile(), dirty.join(''));
    const { observer, mem } = makeObserver();
    await observer.init();
    const s = await observer.pass();
    expect(s).toMatchObject({ malformed: 20, applied: 2000 });
    expect(observer.counters().malformed).toBe(20);
    expect(await readFile(l.worldServices, 'utf8')).toBe(expected);
    const warnings = mem.lines.filter((x) => x.msg === 'skipped malformed event line');
    expect(warnings.length).toBe(10);
    expect(warnings[0]).toMatchObject({ file: eventsFile(), line: 52 });
    expect(mem.lines.some((x) => typeof x.msg === 'string' && x.msg.startsWith('skipped 20 malformed'))).toBe(true);
  });

  it('skips lines over 64 KiB, also one still being written', async () => {
    const { observer } = makeObserver({ chunkKb: 16 });
    await observer.init();
    const big = `{"ts":"${at(1)}","node":"chelsty-infra","type":"x","detail":{"pad":"${'a'.repeat(70_000)}"}}`;
    await appendEvents(l.root, [ev('service_healthy', at(0), 'zigbee2mqtt')]);
    await appendFile(eventsFile(), `${big}\n`);
    await appendFile(eventsFile(), big.slice(0, 66_000));
    let s = await observer.pass();
    expect(s).toMatchObject({ applied: 1, malformed: 1 });
    await appendFile(eventsFile(), `${big.slice(66_000)}\n${eventLine(ev('containers_not_running', at(2), 'zigbee2mqtt'))}`);
    s = await observer.pass();
    expect(s).toMatchObject({ applied: 1, malformed: 1 });
    expect(observer.counters()).toMatchObject({ oversized: 2, malformed: 2 });
    expect((await world())['chelsty-infra/zigbee2mqtt']!.status).toBe('unhealthy');
  });

  it('reads a truncated file and a file deleted and recreated from the start', async () => {
    const { observer, mem } = makeObserver();
    await observer.init();
    await appendEvents(l.root, [ev('containers_not_running', at(1), 'zigbee2mqtt'), ev('service_healthy', at(2), 'mosquitto')]);
    await observer.pass();
    await truncate(eventsFile(), 0);
    await appendEvents(l.root, [ev('service_healthy', at(3), 'zigbee2mqtt')]);
    let s = await observer.pass();
    expect(s.applied).toBe(1);
    expect((await world())['chelsty-infra/zigbee2mqtt']!.status).toBe('healthy');
    // Recreated with more content than the old offset: the old offset must not be trusted.
    await unlink(eventsFile());
    await appendEvents(l.root, [ev('mqtt_unreachable', at(4), 'mosquitto'), ev('node_heartbeat', at(5)), ev('node_heartbeat', at(6))]);
    s = await observer.pass();
    expect(s.applied).toBe(3);
    expect((await world())['chelsty-infra/mosquitto']!.status).toBe('unhealthy');
    expect(mem.lines.some((x) => x.why === 'truncated')).toBe(true);
  });

  it('never follows symlinks and never blocks on a FIFO in events/', async () => {
    const { observer } = makeObserver();
    await observer.init();
    await appendEvents(l.root, [ev('service_healthy', at(1), 'zigbee2mqtt')]);
    const outside = path.join(root, 'outside.jsonl');
    await writeFile(outside, eventLine(ev('containers_not_running', at(2), 'zigbee2mqtt', 'piha')));
    await symlink(outside, eventsFile('piha'));
    execFileSync('mkfifo', [eventsFile('fifo-node')]);
    await mkdir(path.join(l.events, '2026-05-26'), { recursive: true });
    const s = await observer.pass();
    expect(s.applied).toBe(1);
    expect(Object.keys(await world())).toEqual(['chelsty-infra/zigbee2mqtt']);
  });

  it("one node's backlog does not delay another's", async () => {
    const { observer } = makeObserver({ chunkKb: 8 });
    await observer.init();
    const backlog: Ev[] = [];
    for (let i = 0; i < 3000; i++) backlog.push(ev('node_heartbeat', at(i % 59, i % 60), undefined, 'busy-node'));
    await appendEvents(l.root, backlog);
    await appendEvents(l.root, [ev('containers_not_running', at(1), 'zigbee2mqtt')]);
    const published: number[] = [];
    observer.onPublish((w) => published.push(w.nodes['busy-node']?.events_applied ?? 0));
    const firstRound: string[] = [];
    observer.onPublish((w) => {
      if (firstRound.length === 0) firstRound.push(w.services['chelsty-infra/zigbee2mqtt']?.status ?? 'absent');
    });
    const s = await observer.pass();
    expect(s.rounds).toBeGreaterThan(2);
    expect(firstRound).toEqual(['unhealthy']);
    expect(published[0]).toBeLessThan(3000);
    expect(published.at(-1)).toBe(3000);
  });

  it('writes world files only when they change', async () => {
    const { observer } = makeObserver();
    await observer.init();
    await appendEvents(l.root, [ev('service_healthy', at(1), 'zigbee2mqtt')]);
    await observer.pass();
    const { mtimeMs } = await import('node:fs/promises').then((fs) => fs.stat(l.worldServices));
    await appendEvents(l.root, [ev('node_heartbeat', at(2))]);
    await observer.pass();
    const after = await import('node:fs/promises').then((fs) => fs.stat(l.worldServices));
    expect(after.mtimeMs).toBe(mtimeMs);
  });

  it('the files follow the world at PERSIST_MS on a small fleet, and by their bytes\' share of the budget on a large one', async () => {
    for (const large of [false, true]) {
      await removeDir(l.root);
      await ensureLayout(l);
      const clock = new FakeClock(NOW);
      // The first write's bytes make the budget: a large fleet's are 5 s of it, a small one's 50 ms.
      let budget = Number.POSITIVE_INFINITY;
      const config = loadConfig({ HOMELAB_ROOT: l.root, HOSTS_DIR: hosts });
      const observer = new Observer({ layout: l, config, log: memoryLogger().log, now: () => clock.now(), desired: () => ({}), clock, get persistBytesPerS() { return budget; } });
      await observer.init();
      await appendEvents(l.root, [ev('containers_not_running', at(1), 'zigbee2mqtt')]);
      await observer.pass();
      await waitFor(async () => (await world().catch(() => ({}) as Record<string, never>))['chelsty-infra/zigbee2mqtt'], { what: 'the first write' });
      await observer.flush();
      const bytes = (await Promise.all([l.worldServices, l.worldNodes, l.checkpoint].map((f) => readFile(f)))).reduce((n, b) => n + b.length, 0);
      budget = bytes / (large ? 5 : 0.05);
      // The gap follows the last write: written again (the same bytes) with this budget.
      await appendEvents(l.root, [ev('service_healthy', at(2), 'zigbee2mqtt')]);
      await clock.advance(1000);
      await observer.pass();
      await waitFor(async () => (await world())['chelsty-infra/zigbee2mqtt']?.status === 'healthy', { what: 'the second write' });
      await observer.flush();
      // The next write waits PERSIST_MS, or the second write's bytes' share of the budget.
      const second = (await Promise.all([l.worldServices, l.worldNodes, l.checkpoint].map((f) => readFile(f)))).reduce((n, b) => n + b.length, 0);
      const gap = Math.max(500, (second / budget) * 1000);
      expect(gap > 5000).toBe(large);
      await appendEvents(l.root, [ev('containers_not_running', at(3), 'zigbee2mqtt')]);
      await clock.advance(100);
      await observer.pass();
      await clock.advance(gap - 150);
      expect((await world())['chelsty-infra/zigbee2mqtt']?.status).toBe('healthy');
      await clock.advance(100);
      await waitFor(async () => (await world())['chelsty-infra/zigbee2mqtt']?.status === 'unhealthy', { what: `the trailing write ${large ? '5 s' : 'PERSIST_MS'} after the last` });
      await observer.flush();
      // After a quiet minute: a small fleet's files are written at once, a large one's a moment
      // after the pass (what the pass caused gets the disk first).
      await clock.advance(60_000);
      await appendEvents(l.root, [ev('service_healthy', at(4), 'zigbee2mqtt')]);
      await observer.pass();
      if (large) {
        expect(clock.nextAt! - clock.now()).toBe(LARGE_WRITE_AFTER_MS);
        await clock.advance(LARGE_WRITE_AFTER_MS - 50);
        expect((await world())['chelsty-infra/zigbee2mqtt']?.status).toBe('unhealthy');
        await clock.advance(50);
      }
      await waitFor(async () => (await world())['chelsty-infra/zigbee2mqtt']?.status === 'healthy', { what: 'the write after a quiet minute' });
      await observer.flush();
    }
  });
});

describe('control-plane run reacts to appended events', () => {
  let running: Running | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  it('updates world within moments of an append, without waiting for the interval', async () => {
    const cfg = loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600' });
    const mem = memoryLogger();
    running = await startControlPlane(cfg, mem.log);
    await waitFor(() => running!.runners.every((r) => r.status.passes > 0), { what: 'first passes' });
    const ts = new Date().toISOString();
    await appendEvents(l.root, [{ ts, node: 'chelsty-infra', type: 'containers_not_running', service: 'zigbee2mqtt' }]);
    const entry = await waitFor(async () => (await world().catch(() => ({}) as Record<string, never>))['chelsty-infra/zigbee2mqtt'], {
      timeoutMs: 5000,
      what: 'world to show the appended event',
    });
    expect(entry).toMatchObject({ status: 'unhealthy', reason: 'containers_not_running' });
  });

  it('refuses to start beside another live control plane on the same root, naming the pid file', async () => {
    const cfg = loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600' });
    const other = startRunChild({ PATH: process.env.PATH, HOMELAB_ROOT: path.join(l.root, '..', 'other-root'), HOSTS_DIR: hosts, PORT: '0' });
    try {
      await other.ready();
      await writeFile(path.join(l.state, 'control-plane.pid'), `${other.proc.pid}\n`);
      await expect(startControlPlane(cfg, memoryLogger().log)).rejects.toThrow(/HOMELAB_ROOT: another control plane .*remove .*control-plane\.pid/);
    } finally {
      other.proc.kill('SIGTERM');
      await other.exited;
    }
  });

  it('a stale pid file whose pid is another program now is not a control plane', async () => {
    const cfg = loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600' });
    await writeFile(path.join(l.state, 'control-plane.pid'), `${process.ppid}\n`);
    const r = await startControlPlane(cfg, memoryLogger().log);
    await r.stop();
  });
});
