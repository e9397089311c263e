// A full replay in worker threads gives the world of the single-threaded replay, byte for byte,
// and the same model: aliases, malformed lines, duplicates, late lines, a snapshot to start from.
// (The workers run the build: `npm test` builds first.)
import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger, removeDir, repoRoot, tempDir, writeHosts } from '../support/helpers.js';

const dist = path.join(repoRoot, 'dist');
const { Observer } = (await import(path.join(dist, 'loops', 'observer.js'))) as typeof import('../../src/loops/observer.js');
const { EventRetention } = (await import(path.join(dist, 'loops', 'event-retention.js'))) as typeof import('../../src/loops/event-retention.js');
const { loadConfig } = (await import(path.join(dist, 'config.js'))) as typeof import('../../src/config.js');
const { layout, ensureLayout } = (await import(path.join(dist, 'store', 'paths.js'))) as typeof import('../../src/store/paths.js');

const NOW = Date.parse('2026-05-27T15:00:00.000Z');
const DAY = 86_400_000;
let root: string;
let hosts: string;

beforeEach(async () => {
  root = await tempDir('hcp-prep-');
  hosts = path.join(root, 'hosts');
  await writeHosts(hosts, { 'n-0': 'services:\n  svc-0: {}\n  svc-1: {}\n', a: 'services:\n  web: {}\n' });
});
afterEach(async () => {
  await removeDir(root);
});

const l = () => layout(path.join(root, 'homelab'));
const config = () => loadConfig({ HOMELAB_ROOT: l().root, HOSTS_DIR: hosts, NODE_ALIAS_MAP: JSON.stringify({ pi: 'a' }), OBSERVER_CHUNK_KB: '4', EVENTS_RETENTION_DAYS: '5' });
const desired = () => ({ 'n-0': { node: 'n-0', services: { 'svc-0': { service: 'svc-0', monitor: true }, 'svc-1': { service: 'svc-1', monitor: true } } } }) as never;

/** 12 nodes over 8 days: state changes, heartbeats of two agents, duplicates, bad lines, and an alias's file. */
async function corpus(): Promise<void> {
  const lines = new Map<string, string[]>();
  const add = (file: string, e: unknown) => lines.set(file, [...(lines.get(file) ?? []), typeof e === 'string' ? e : JSON.stringify(e)]);
  for (let d = 7; d >= 0; d--) {
    const dayStart = Date.parse('2026-05-27T00:00:00.000Z') - d * DAY;
    const day = new Date(dayStart).toISOString().slice(0, 10);
    for (let n = 0; n < 12; n++) {
      const node = `n-${n}`;
      const file = `${day}/${node}.jsonl`;
      for (let i = 0; i < 120; i++) {
        const ts = new Date(dayStart + i * 600_000 + n * 1000).toISOString();
        const seq = (7 - d) * 1000 + i + 1;
        if (i % 4 === 0) add(file, { ts, node, type: 'node_heartbeat', seq, agent: 'x', detail: { interval_s: 30, engine: 'ok' } });
        else add(file, { ts, node, type: i % 7 === 0 ? 'containers_not_running' : i % 11 === 0 ? 'healthcheck_failed' : 'service_healthy', service: `svc-${i % 5}`, seq, agent: 'x' });
        if (i % 50 === 0) add(file, { ts, node, type: 'node_heartbeat', seq, agent: 'x' }); // a duplicate
        if (i % 60 === 1) add(file, '{"ts": broken');
      }
    }
    add(`${day}/a.jsonl`, { ts: new Date(dayStart + 3_600_000).toISOString(), node: 'a', type: 'containers_not_running', service: 'web' });
    add(`${day}/pi.jsonl`, { ts: new Date(dayStart + 3_500_000).toISOString(), node: 'pi', type: 'service_healthy', service: 'web' });
    add(`${day}/pi.jsonl`, { ts: new Date(dayStart + 3_700_000).toISOString(), node: 'pi', type: 'service_healthy', service: 'web' });
  }
  for (const [file, ls] of lines) {
    await mkdir(path.dirname(path.join(l().events, file)), { recursive: true });
    await appendFile(path.join(l().events, file), `${ls.join('\n')}\n`);
  }
}

async function replay(workers: number) {
  const mem = memoryLogger();
  await rm(l().checkpoint, { force: true });
  await rm(l().world, { recursive: true, force: true });
  await ensureLayout(l());
  const o = new Observer({ layout: l(), config: config(), log: mem.log, now: () => NOW, desired, parallelReplay: { workers, minBytes: 0 } });
  await o.init();
  const stats = await o.pass();
  await o.flush();
  const checkpoint = JSON.parse(await readFile(l().checkpoint, 'utf8')) as { model: unknown; positions: unknown };
  return {
    world: { services: await readFile(l().worldServices, 'utf8'), nodes: await readFile(l().worldNodes, 'utf8') },
    checkpoint,
    stats: { applied: stats.applied, malformed: stats.malformed, lines: stats.lines, bytes: stats.bytes },
    counters: o.counters(),
    said: mem.lines.filter((x) => x.msg === 'skipped malformed event line').length,
    parallel: mem.lines.some((x) => typeof x.msg === 'string' && x.msg.includes('worker threads')),
  };
}

describe('replay in worker threads', () => {
  it('gives the single-threaded replay\'s world byte for byte, and the same model and positions', async () => {
    await ensureLayout(l());
    await corpus();
    const one = await replay(1);
    const two = await replay(2);
    const three = await replay(3);
    expect(one.parallel).toBe(false);
    expect(two.parallel && three.parallel).toBe(true);
    expect(JSON.parse(one.world.services)['a/web']).toBeDefined();
    for (const r of [two, three]) {
      expect(r.world).toEqual(one.world);
      expect(r.checkpoint).toEqual(one.checkpoint);
      expect(r.stats).toEqual(one.stats);
      expect(r.counters).toEqual(one.counters);
      expect(r.said).toBe(one.said);
    }
    expect(one.counters.duplicate).toBeGreaterThan(0);
    expect(one.counters.malformed).toBeGreaterThan(0);
  });

  it('starting from the events snapshot (days retention removed), the same', async () => {
    await ensureLayout(l());
    await corpus();
    const first = await replay(1);
    const live = new Observer({ layout: l(), config: config(), log: memoryLogger().log, now: () => NOW, desired });
    await live.init();
    await live.pass();
    await live.flush();
    const r = await new EventRetention({ layout: l(), days: 5, config: config(), observer: live, log: memoryLogger().log, now: () => NOW }).pass();
    expect(r.daysRemoved.length).toBe(2);
    const one = await replay(1);
    const two = await replay(2);
    // The alias's two files are one chunk a day each: the snapshot took them in the order a replay does.
    expect(one.world).toEqual(first.world);
    expect(two.world).toEqual(one.world);
    expect(two.checkpoint).toEqual(one.checkpoint);
  });
});

describe('the workers under `npm start`\'s flags', () => {
  it('replay in threads with the heap flags of the start (V8 flags hold in every thread; a Worker given one refuses to start)', async () => {
    await ensureLayout(l());
    await corpus();
    const start = (JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    const flags = /\bnode ((?:--\S+ )+)dist\/cli\.js run/.exec(start)?.[1]?.trim().split(' ');
    expect(flags).toContain('--heap-growing-percent=50');
    const script = `
      const path = await import('node:path');
      const dist = ${JSON.stringify(dist)};
      const { Observer } = await import(path.join(dist, 'loops', 'observer.js'));
      const { loadConfig } = await import(path.join(dist, 'config.js'));
      const { layout } = await import(path.join(dist, 'store', 'paths.js'));
      const { createLogger } = await import(path.join(dist, 'log.js'));
      const l = layout(${JSON.stringify(l().root)});
      const cfg = loadConfig({ HOMELAB_ROOT: l.root, HOSTS_DIR: ${JSON.stringify(hosts)}, NODE_ALIAS_MAP: '{"pi":"a"}', OBSERVER_CHUNK_KB: '4' });
      const o = new Observer({ layout: l, config: cfg, log: createLogger('info'), now: () => ${NOW}, desired: () => ({}), parallelReplay: { workers: 2, minBytes: 0 } });
      await o.initFresh();
      await o.pass();
      await o.flush();`;
    const r = spawnSync(process.execPath, [...flags!, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const said = r.stdout.split('\n').filter(Boolean).map((x) => (JSON.parse(x) as { msg: string }).msg);
    expect(said.some((m) => /replayed \d+ events in 2 worker threads/.test(m)), said.join('\n')).toBe(true);
    expect(said.filter((m) => /parallel replay failed/.test(m))).toEqual([]);
  });
});
