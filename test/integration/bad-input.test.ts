// Generated hostile event lines among good ones: the observer never stops, counts each one, and
// the world equals the world of the same good lines alone.
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Observer } from '../../src/loops/observer.js';
import { DesiredStore } from '../../src/store/desired.js';
import { ensureLayout, layout } from '../../src/store/paths.js';
import { memoryLogger, removeDir, tempDir, writeHosts, type Ev } from '../support/helpers.js';
import { mulberry32, report, scale } from '../support/soak.js';

const NOW = Date.parse('2026-05-27T15:00:00.000Z');
const DAY = '2026-05-27';
const NODES = ['n1', 'n2', 'n3'];
const GOOD = 5000;
const BAD = scale(10_000, 50_000);
const SEED = Number(process.env.BAD_INPUT_SEED ?? 4242);

let root: string;
beforeAll(async () => {
  root = await tempDir('hcp-bad-input-');
  await writeHosts(path.join(root, 'hosts'), { n1: 'services:\n  s1: {}\n  s2: {}\n', n2: 'services:\n  s1: {}\n' });
});
afterAll(async () => {
  await removeDir(root);
});

const enc = new TextEncoder();
const json = (o: unknown) => enc.encode(JSON.stringify(o));
const cat = (...parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));

/** Each kind makes one malformed line (without its newline) for the file of `node`. */
const KINDS: Record<string, (node: string, r: () => number) => Uint8Array> = {
  bad_json: (node, r) => enc.encode(JSON.stringify({ ts: iso(r), node, type: 'service_healthy', service: 's1' }).slice(0, 5 + Math.floor(r() * 40))),
  trailing_garbage: (node, r) => enc.encode(`${JSON.stringify({ ts: iso(r), node, type: 'node_heartbeat' })} }`),
  not_an_object: (_n, r) => enc.encode(JSON.stringify([['ts', iso(r)], 'x', 1, null, true][Math.floor(r() * 5)])),
  wrong_types: (node, r) => json([{ ts: 12, node, type: 'node_heartbeat' }, { ts: iso(r), node: [node], type: 'node_heartbeat' }, { ts: iso(r), node, type: 7 }, { ts: iso(r), node, type: 'service_healthy', service: 5 }, { ts: iso(r), node, type: 'node_heartbeat', detail: 'x' }, { ts: iso(r), node, type: 'node_heartbeat', seq: -1 }, { ts: iso(r), node, type: 'node_heartbeat', seq: '9' }][Math.floor(r() * 7)]),
  missing_fields: (node, r) => json([{ node, type: 'node_heartbeat' }, { ts: iso(r), type: 'node_heartbeat' }, { ts: iso(r), node }, { ts: iso(r), node, type: 'containers_not_running' }][Math.floor(r() * 4)]),
  bad_names: (node, r) => json({ ts: iso(r), node, type: 'containers_not_running', service: ['../etc', 'a/b', '', '-x', 'x'.repeat(64), 'ä'][Math.floor(r() * 6)] }),
  huge_line: (node, r) => enc.encode(`{"ts":"${iso(r)}","node":"${node}","type":"agent_note","detail":{"pad":"${'x'.repeat(1024 * 1024)}"}}`),
  over_64k: (node, r) => enc.encode(`{"ts":"${iso(r)}","node":"${node}","type":"agent_note","detail":{"pad":"${'y'.repeat(65 * 1024)}"}}`),
  nul_bytes: (node, r) => (r() < 0.5 ? cat(enc.encode('{"ts":"'), new Uint8Array([0, 0]), enc.encode(`","node":"${node}","type":"node_heartbeat"}`)) : new Uint8Array(32)),
  invalid_utf8: (node, r) => cat(enc.encode(`{"ts":"${iso(r)}","node":"${node}","type":"agent_note","detail":{"s":"`), new Uint8Array([0xff, 0xfe, 0xc3, 0x28]), enc.encode('"}}')),
  future_ts: (node, r) => json({ ts: new Date(NOW + 600_000 + Math.floor(r() * 30 * 3_600_000)).toISOString(), node, type: 'containers_not_running', service: 's1' }),
  ancient_ts: (node, r) => json({ ts: ['1970-01-01T00:00:00.000Z', '2001-09-09T01:46:40.000Z', '2026-05-20T12:00:00.000Z'][Math.floor(r() * 3)], node, type: 'containers_not_running', service: 's1' }),
  bad_ts: (node, r) => json({ ts: ['yesterday', '2026-13-45T99:00:00Z', '', '2026-05-27'][Math.floor(r() * 4)]?.replace('2026-05-27', r() < 0.5 ? '2026-05-27' : 'x'), node, type: 'node_heartbeat' }),
  wrong_node: (_n, r) => json({ ts: iso(r), node: 'intruder', type: 'containers_not_running', service: 's1' }),
  bad_disk_pressure: (node, r) => json({ ts: iso(r), node, type: 'disk_pressure', detail: { level: ['full', 3, null][Math.floor(r() * 3)] } }),
};

function iso(r: () => number): string {
  return new Date(NOW - 3_600_000 + Math.floor(r() * 3_500_000)).toISOString();
}

function goodEvents(r: () => number): Ev[] {
  const types = ['node_heartbeat', 'service_healthy', 'containers_not_running', 'healthcheck_failed', 'service_recovered', 'disk_pressure'];
  const out: Ev[] = [];
  for (let i = 0; i < GOOD; i++) {
    const node = NODES[Math.floor(r() * NODES.length)]!;
    const type = types[Math.floor(r() * types.length)]!;
    const e: Ev = { ts: new Date(NOW - 3_600_000 + i * 500).toISOString(), node, type };
    if (type === 'disk_pressure') e.detail = { level: r() < 0.5 ? 'high' : 'normal', used_pct: 50 };
    else if (type !== 'node_heartbeat') e.service = `s${1 + Math.floor(r() * 3)}`;
    out.push(e);
  }
  return out;
}

async function observe(home: string, lines: Map<string, Uint8Array[]>): Promise<{ services: string; nodes: string; counters: ReturnType<Observer['counters']>; logged: number }> {
  const l = layout(home);
  await ensureLayout(l);
  for (const [node, list] of lines) {
    const file = path.join(l.events, DAY, `${node}.jsonl`);
    await mkdir(path.dirname(file), { recursive: true });
    // Written in slices, so lines also straddle the observer's chunks.
    for (let i = 0; i < list.length; i += 500) await appendFile(file, Buffer.concat(list.slice(i, i + 500).flatMap((b) => [Buffer.from(b), Buffer.from('\n')])));
  }
  const cfg = loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: path.join(root, 'hosts'), OBSERVER_CHUNK_KB: '64', AGENT_SILENT_AFTER_S: '604800' });
  const desired = new DesiredStore(cfg.hostsDir);
  await desired.reload();
  const mem = memoryLogger('warn');
  const observer = new Observer({ layout: l, config: cfg, log: mem.log, now: () => NOW, desired: () => desired.current() });
  await observer.init();
  await observer.pass();
  await observer.flush();
  return { services: await readFile(l.worldServices, 'utf8'), nodes: await readFile(l.worldNodes, 'utf8'), counters: observer.counters(), logged: mem.lines.length };
}

describe('malformed event lines', () => {
  it(`${BAD} generated bad lines among ${GOOD} good ones: each counted, world unchanged`, async () => {
    const r = mulberry32(SEED);
    const good = goodEvents(r);
    const clean = new Map<string, Uint8Array[]>();
    const dirty = new Map<string, Uint8Array[]>();
    for (const e of good) {
      const line = json(e);
      (clean.get(e.node) ?? clean.set(e.node, []).get(e.node)!).push(line);
      (dirty.get(e.node) ?? dirty.set(e.node, []).get(e.node)!).push(line);
    }
    // Kinds in turn, so each appears BAD / kinds times; the 1 MiB lines at most 40 times.
    const kinds = Object.keys(KINDS);
    const made: Record<string, number> = {};
    let bad = 0;
    for (let i = 0; bad < BAD; i++) {
      const kind = kinds[i % kinds.length]!;
      if (kind === 'huge_line' && (made[kind] ?? 0) >= 40) continue;
      const node = NODES[Math.floor(r() * NODES.length)]!;
      const list = dirty.get(node)!;
      list.splice(Math.floor(r() * (list.length + 1)), 0, KINDS[kind]!(node, r));
      made[kind] = (made[kind] ?? 0) + 1;
      bad++;
    }
    const a = await observe(path.join(root, 'clean'), clean);
    const b = await observe(path.join(root, 'dirty'), dirty);
    expect(a.counters.malformed).toBe(0);
    expect(b.counters.malformed).toBe(BAD);
    expect(b.counters.applied).toBe(a.counters.applied);
    expect(b.services).toBe(a.services);
    expect(b.nodes).toBe(a.nodes);
    // Logged with file and line, but not one log line per bad line.
    expect(b.logged).toBeLessThan(BAD / 10);
    report('bad_event_lines', { good: GOOD, bad: BAD, counted_malformed: b.counters.malformed, oversized: b.counters.oversized, by_kind: made, world_equal: true, seed: SEED, failures: 0 });
  }, 300_000);

  it('unknown event types are counted and only touch the node they came from (docs/design/observer.md), never a service', async () => {
    const r = mulberry32(SEED + 1);
    const good = goodEvents(r);
    const clean = new Map<string, Uint8Array[]>();
    const dirty = new Map<string, Uint8Array[]>();
    for (const e of good) {
      (clean.get(e.node) ?? clean.set(e.node, []).get(e.node)!).push(json(e));
      (dirty.get(e.node) ?? dirty.set(e.node, []).get(e.node)!).push(json(e));
    }
    const UNKNOWN = scale(1000, 5000);
    for (let i = 0; i < UNKNOWN; i++) {
      const node = NODES[i % NODES.length]!;
      // Older than every good event: the node's last_seen and last event stay as they were.
      dirty.get(node)!.unshift(json({ ts: new Date(NOW - 3_700_000).toISOString(), node, type: `weird_${i}_thing`, service: 's1', detail: { i } }));
    }
    const a = await observe(path.join(root, 'clean-u'), clean);
    const b = await observe(path.join(root, 'dirty-u'), dirty);
    expect(b.counters.unknown).toBe(UNKNOWN);
    expect(b.services).toBe(a.services);
    // (first_seen is the node's oldest event of any type: the older unknown ones move it.)
    const strip = (text: string) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, Record<string, unknown>>).map(([k, n]) => [k, { ...n, events_applied: 0, events_unknown: 0, first_seen: null }])));
    expect(strip(b.nodes)).toBe(strip(a.nodes));
    report('unknown_event_types', { lines: UNKNOWN, counted_unknown: b.counters.unknown, services_equal: true, failures: 0 });
  }, 120_000);
});
