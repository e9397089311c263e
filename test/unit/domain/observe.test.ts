import { describe, expect, it } from 'vitest';
import { applyEvent, classify, emptyModel, NO_CHANGES, shareNoChanges, type ObserverModel } from '../../../src/domain/observe.js';
import { renderWorld } from '../../../src/domain/world-render.js';
import { parseEventLine } from '../../../src/domain/event-line.js';
import type { DesiredState, NodeEvent } from '../../../src/domain/schemas.js';
import { desiredState } from '../../support/desired.js';

const NOW = Date.parse('2026-05-27T15:00:00.000Z');
const DAY = '2026-05-27';
const noAlias = { aliases: {} };
const render = { agentSilentAfterS: 300, worldPruneAfterH: 72, aliases: {} };
const enc = new TextEncoder();

function parse(obj: unknown, fileNode = 'chelsty-infra', cfg: { aliases: Record<string, string> } = noAlias, day = DAY) {
  return parseEventLine(enc.encode(typeof obj === 'string' ? obj : JSON.stringify(obj)), fileNode, day, cfg);
}
function ev(type: string, ts: string, extra: Partial<NodeEvent> = {}): NodeEvent {
  const r = parse({ ts, node: 'chelsty-infra', type, service: 'zigbee2mqtt', ...extra }, 'chelsty-infra', noAlias, ts.slice(0, 10));
  if (!r.ok) throw new Error(r.reason);
  return r.event;
}
function run(events: NodeEvent[], model: ObserverModel = emptyModel()): ObserverModel {
  for (const e of events) applyEvent(model, e, e.node);
  return model;
}

describe('the event table', () => {
  it.each([
    ['service_healthy', 'positive'],
    ['service_recovered', 'positive'],
    ['containers_not_running', 'negative'],
    ['mqtt_unreachable', 'negative'],
    ['healthcheck_failed', 'negative'],
    ['service_unhealthy', 'negative'],
    ['container_restarting', 'negative'],
    ['backup_failed', 'negative'],
    ['dns_unreachable', 'negative'],
    ['node_heartbeat', 'node'],
    ['disk_pressure', 'node'],
    ['agent_started', 'unknown'],
    ['failed_thing', 'unknown'],
  ])('%s is %s', (type, kind) => {
    expect(classify(type)).toBe(kind);
  });

  it.each(['containers_not_running', 'mqtt_unreachable', 'healthcheck_failed', 'service_unhealthy', 'container_restarting', 'x_failed', 'y_unreachable'])(
    'negative %s makes the service unhealthy with reason = type',
    (type) => {
      const m = run([ev('service_healthy', '2026-05-27T14:00:00Z'), ev(type, '2026-05-27T14:01:00Z')]);
      expect(m.services['chelsty-infra/zigbee2mqtt']).toMatchObject({ status: 'unhealthy', reason: type, since: '2026-05-27T14:01:00.000Z' });
    },
  );

  it('positive events make it healthy; service_recovered records the incident it resolves', () => {
    const m = run([
      ev('containers_not_running', '2026-05-27T14:00:00Z'),
      ev('healthcheck_failed', '2026-05-27T14:02:00Z'),
      ev('service_recovered', '2026-05-27T14:05:00Z'),
    ]);
    expect(m.services['chelsty-infra/zigbee2mqtt']).toMatchObject({
      status: 'healthy',
      reason: null,
      since: '2026-05-27T14:05:00.000Z',
      last_healthy_at: '2026-05-27T14:05:00.000Z',
      // Named by the reason it began with, and the one it ended with.
      last_incident: { reason: 'containers_not_running', last_reason: 'healthcheck_failed', started_at: '2026-05-27T14:00:00.000Z', resolved_at: '2026-05-27T14:05:00.000Z' },
      changes: ['2026-05-27T14:05:00.000Z'],
    });
  });

  it('node events: heartbeat sets last_seen, disk_pressure sets level and used_pct', () => {
    const hb = parse({ ts: '2026-05-27T14:00:00Z', node: 'chelsty-infra', type: 'node_heartbeat' });
    const dp = parse({ ts: '2026-05-27T14:01:00Z', node: 'chelsty-infra', type: 'disk_pressure', detail: { level: 'high', used_pct: 93.5 } });
    if (!hb.ok || !dp.ok) throw new Error('parse');
    const m = run([hb.event, dp.event]);
    expect(m.nodes['chelsty-infra']).toMatchObject({ last_seen: '2026-05-27T14:01:00.000Z', disk_pressure: 'high', disk_used_pct: 93.5 });
    expect(Object.keys(m.services)).toEqual([]);
  });

  it('unknown types are counted and update last_seen only', () => {
    const r = parse({ ts: '2026-05-27T14:03:00Z', node: 'chelsty-infra', type: 'agent_started', service: 'zigbee2mqtt' });
    if (!r.ok) throw new Error(r.reason);
    const m = run([ev('service_healthy', '2026-05-27T14:00:00Z'), r.event]);
    expect(m.services['chelsty-infra/zigbee2mqtt']!.status).toBe('healthy');
    expect(m.nodes['chelsty-infra']!.last_seen).toBe('2026-05-27T14:03:00.000Z');
    expect(m.counters.unknown).toBe(1);
    expect(m.nodes['chelsty-infra']!.events_unknown).toBe(1);
  });

  it('an older event delivered late never overwrites newer status', () => {
    const m = run([ev('service_healthy', '2026-05-27T14:10:00Z'), ev('containers_not_running', '2026-05-27T14:00:00Z')]);
    expect(m.services['chelsty-infra/zigbee2mqtt']).toMatchObject({ status: 'healthy', last_event_at: '2026-05-27T14:10:00.000Z' });
  });

  it('keeps only the most recent status changes', () => {
    const events: NodeEvent[] = [];
    for (let i = 0; i < 40; i++) events.push(ev(i % 2 ? 'service_healthy' : 'containers_not_running', new Date(Date.parse('2026-05-27T10:00:00Z') + i * 60_000).toISOString()));
    const m = run(events);
    expect(m.services['chelsty-infra/zigbee2mqtt']!.changes).toHaveLength(16);
  });
});

describe('parseEventLine rejects what is malformed', () => {
  it.each([
    ['not JSON', 'garbage'],
    ['missing ts', { node: 'chelsty-infra', type: 'node_heartbeat' }],
    ['ts not ISO', { ts: 'yesterday', node: 'chelsty-infra', type: 'node_heartbeat' }],
    ['ts without zone', { ts: '2026-05-27T14:00:00', node: 'chelsty-infra', type: 'node_heartbeat' }],
    ['ts far from the file day', { ts: '2020-01-01T00:00:00Z', node: 'chelsty-infra', type: 'node_heartbeat' }],
    ['node wrong type', { ts: '2026-05-27T14:00:00Z', node: 5, type: 'node_heartbeat' }],
    ['node with a slash', { ts: '2026-05-27T14:00:00Z', node: 'a/b', type: 'node_heartbeat' }],
    ['node of another file', { ts: '2026-05-27T14:00:00Z', node: 'piha', type: 'node_heartbeat' }],
    ['service with a slash', { ts: '2026-05-27T14:00:00Z', node: 'chelsty-infra', type: 'service_healthy', service: '../x' }],
    ['empty service', { ts: '2026-05-27T14:00:00Z', node: 'chelsty-infra', type: 'service_healthy', service: '' }],
    ['service event without service', { ts: '2026-05-27T14:00:00Z', node: 'chelsty-infra', type: 'containers_not_running' }],
    ['detail not an object', { ts: '2026-05-27T14:00:00Z', node: 'chelsty-infra', type: 'node_heartbeat', detail: [1] }],
    ['seq negative', { ts: '2026-05-27T14:00:00Z', node: 'chelsty-infra', type: 'node_heartbeat', seq: -1 }],
    ['disk_pressure without level', { ts: '2026-05-27T14:00:00Z', node: 'chelsty-infra', type: 'disk_pressure', detail: {} }],
    ['a JSON array', [1, 2]],
    ['JSON null', 'null'],
  ])('%s', (_name, input) => {
    const r = parse(input);
    expect(r.ok).toBe(false);
  });

  it('invalid UTF-8 is malformed', () => {
    const bytes = Buffer.concat([Buffer.from('{"ts":"2026-05-27T14:00:00Z","node":"chelsty-infra","type":"x'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const r = parseEventLine(bytes, 'chelsty-infra', DAY, noAlias);
    expect(r).toEqual({ ok: false, reason: 'invalid UTF-8' });
  });

  it('normalises ts to UTC ISO', () => {
    const r = parse({ ts: '2026-05-27T16:00:00+02:00', node: 'chelsty-infra', type: 'node_heartbeat' });
    expect(r.ok && r.event.ts).toBe('2026-05-27T14:00:00.000Z');
  });
});

describe('NODE_ALIAS_MAP', () => {
  const cfg = { aliases: { 'node-2': 'chelsty-infra' } };
  it('canonicalises the event node before anything else', () => {
    const r = parse({ ts: '2026-05-27T14:00:00Z', node: 'node-2', type: 'service_healthy', service: 'mosquitto' }, 'node-2', cfg);
    expect(r.ok && r.event.node).toBe('chelsty-infra');
    const r2 = parse({ ts: '2026-05-27T14:00:00Z', node: 'node-2', type: 'service_healthy', service: 'mosquitto' }, 'chelsty-infra', cfg);
    expect(r2.ok).toBe(true);
  });
  it('prunes entries still keyed under an alias', () => {
    const m = emptyModel();
    m.services['node-2/mosquitto'] = {
      node: 'node-2', service: 'mosquitto', status: 'healthy', reason: null, since: '2026-05-27T14:00:00.000Z',
      last_event_at: '2026-05-27T14:00:00.000Z', last_healthy_at: null, last_incident: null, changes: [],
    };
    const w = renderWorld(m, {}, { ...render, ...cfg }, NOW);
    expect(w.services).toEqual({});
  });
});

describe('seq de-duplication', () => {
  it('an event whose seq was already applied is applied once', () => {
    const m = emptyModel();
    const a = ev('containers_not_running', '2026-05-27T14:00:00Z', { seq: 7 });
    expect(applyEvent(m, a, 'chelsty-infra')).toBe(true);
    expect(applyEvent(m, a, 'chelsty-infra')).toBe(false);
    expect(applyEvent(m, ev('service_healthy', '2026-05-27T14:01:00Z', { seq: 6 }), 'chelsty-infra')).toBe(false);
    expect(applyEvent(m, ev('service_healthy', '2026-05-27T14:01:00Z', { seq: 8 }), 'chelsty-infra')).toBe(true);
    expect(m.counters).toMatchObject({ applied: 2, duplicate: 2 });
    expect(m.services['chelsty-infra/zigbee2mqtt']!.status).toBe('healthy');
  });
  it('events without seq are never treated as duplicates', () => {
    const m = emptyModel();
    const a = ev('node_heartbeat', '2026-05-27T14:00:00Z');
    applyEvent(m, a, 'chelsty-infra');
    applyEvent(m, a, 'chelsty-infra');
    expect(m.counters.applied).toBe(2);
  });
});

describe('an incident is named by the reason it began with', () => {
  it('healthcheck_failed, then containers_not_running, then healthy: the incident says both, in order', () => {
    const m = run([
      ev('service_healthy', '2026-05-27T14:00:00.000Z'),
      ev('healthcheck_failed', '2026-05-27T14:01:00.000Z'),
      ev('containers_not_running', '2026-05-27T14:02:00.000Z'),
      ev('service_healthy', '2026-05-27T14:03:00.000Z'),
    ]);
    expect(m.services['chelsty-infra/zigbee2mqtt']!.last_incident).toEqual({ reason: 'healthcheck_failed', last_reason: 'containers_not_running', started_at: '2026-05-27T14:01:00.000Z', resolved_at: '2026-05-27T14:03:00.000Z' });
    expect(m.first_reasons).toEqual({});
    // One reason all along: as before.
    const one = run([ev('containers_not_running', '2026-05-27T14:05:00.000Z'), ev('service_healthy', '2026-05-27T14:06:00.000Z')], m);
    expect(one.services['chelsty-infra/zigbee2mqtt']!.last_incident).toEqual({ reason: 'containers_not_running', started_at: '2026-05-27T14:05:00.000Z', resolved_at: '2026-05-27T14:06:00.000Z' });
  });
});

describe('agent identity: node + agent + seq', () => {
  const beat = (ts: string, agent: string, seq: number, detail: Record<string, unknown> = { engine: 'ok', interval_s: 30 }) => ev('node_heartbeat', ts, { agent, seq, detail, service: undefined });

  it('a second agent with higher seqs never hides the first one\'s later events', () => {
    const m = emptyModel();
    // The running agent (instance a) writes seqs around its start time in µs …
    expect(applyEvent(m, ev('service_healthy', '2026-05-27T14:00:00.000Z', { agent: 'aaaa1111', seq: 1000 }), 'chelsty-infra')).toBe(true);
    // … an `agent --once` run started later writes much higher ones …
    expect(applyEvent(m, ev('service_healthy', '2026-05-27T14:00:05.000Z', { agent: 'bbbb2222', seq: 9_000_000 }), 'chelsty-infra')).toBe(true);
    // … and the running agent's next event is still news.
    expect(applyEvent(m, ev('containers_not_running', '2026-05-27T14:00:10.000Z', { agent: 'aaaa1111', seq: 1001 }), 'chelsty-infra')).toBe(true);
    expect(m.services['chelsty-infra/zigbee2mqtt']!.status).toBe('unhealthy');
    expect(m.counters.duplicate).toBe(0);
    // The same event of the same instance again is a duplicate.
    expect(applyEvent(m, ev('containers_not_running', '2026-05-27T14:00:10.000Z', { agent: 'aaaa1111', seq: 1001 }), 'chelsty-infra')).toBe(false);
    expect(m.counters.duplicate).toBe(1);
  });

  it('events without an agent keep one stream per node, as before', () => {
    const m = emptyModel();
    applyEvent(m, ev('service_healthy', '2026-05-27T14:00:00.000Z', { seq: 9_000_000 }), 'chelsty-infra');
    expect(applyEvent(m, ev('containers_not_running', '2026-05-27T14:00:10.000Z', { seq: 1001 }), 'chelsty-infra')).toBe(false);
    // An agent-marked event is another stream.
    expect(applyEvent(m, ev('containers_not_running', '2026-05-27T14:00:10.000Z', { seq: 1001, agent: 'cccc3333' }), 'chelsty-infra')).toBe(true);
  });

  it('forgets the sequence state of instances not heard of since a time', async () => {
    const { forgetSilentAgents } = await import('../../../src/domain/observe.js');
    const m = emptyModel();
    applyEvent(m, ev('service_healthy', '2026-05-25T14:00:00.000Z', { agent: 'old', seq: 5 }), 'chelsty-infra');
    applyEvent(m, ev('service_healthy', '2026-05-27T14:00:00.000Z', { agent: 'new', seq: 5 }), 'chelsty-infra');
    applyEvent(m, ev('service_healthy', '2026-05-25T14:00:00.000Z', { seq: 5 }), 'chelsty-infra');
    expect(forgetSilentAgents(m, '2026-05-26T15:00:00.000Z')).toBe(1);
    expect(Object.keys(m.seq).sort()).toEqual(['chelsty-infra', 'chelsty-infra@new']);
  });

  it('two long-running agents at once are named; a restart and an --once run are not', () => {
    const desired = desiredState({ 'chelsty-infra': { zigbee2mqtt: {} } });
    const at = (s: number) => new Date(NOW - 600_000 + s * 1000).toISOString();
    // A restart: instance r1 beats until 100 s, r2 from 110 s on.
    const restart = emptyModel();
    for (let t = 0; t <= 100; t += 30) applyEvent(restart, beat(at(t), 'r1', 1000 + t), 'chelsty-infra');
    for (let t = 110; t <= 590; t += 30) applyEvent(restart, beat(at(t), 'r2', 5000 + t), 'chelsty-infra');
    // An --once run in between.
    applyEvent(restart, beat(at(300), 'o1', 99_999, { engine: 'ok', once: true }), 'chelsty-infra');
    expect(renderWorld(restart, desired, render, NOW).nodes['chelsty-infra']!.agents_running).toBeUndefined();
    expect(Object.keys(restart.nodes['chelsty-infra']!.agents ?? {}).sort()).toEqual(['r1', 'r2']);
    // Two at once: a beats all along, b joins at 200 s; both are named.
    const two = emptyModel();
    for (let t = 0; t <= 590; t += 30) applyEvent(two, beat(at(t), 'aaaa', 1000 + t), 'chelsty-infra');
    for (let t = 200; t <= 590; t += 30) applyEvent(two, beat(at(t), 'bbbb', 2000 + t), 'chelsty-infra');
    expect(renderWorld(two, desired, render, NOW).nodes['chelsty-infra']!.agents_running).toEqual(['aaaa', 'bbbb']);
    // Once b has been quiet longer than the silence threshold, one agent again.
    const later = NOW + 10_000;
    const quiet = emptyModel();
    for (let t = 0; t <= 590; t += 30) applyEvent(quiet, beat(at(t), 'aaaa', 1000 + t), 'chelsty-infra');
    for (let t = 200; t <= 300; t += 30) applyEvent(quiet, beat(at(t), 'bbbb', 2000 + t), 'chelsty-infra');
    expect(renderWorld(quiet, desired, render, later).nodes['chelsty-infra']!.agents_running).toBeUndefined();
  });
});

describe('renderWorld on a fixed clock', () => {
  const desired: DesiredState = {
    'chelsty-infra': {
      node: 'chelsty-infra',
      docker: { socket: '/var/run/docker.sock' },
      services: { zigbee2mqtt: { node: 'chelsty-infra', service: 'zigbee2mqtt', containers: ['zigbee2mqtt'], monitor: true, auto_approve: false } },
    },
    piha: { node: 'piha', docker: { socket: '/var/run/docker.sock' }, services: {} },
  };
  it('prunes entries silent for WORLD_PRUNE_AFTER_H unless desired, and lists silent nodes', () => {
    const old = '2026-05-24T10:00:00Z'; // 77 h before NOW
    const m = run([ev('service_healthy', old), ev('service_healthy', old, { service: 'old-thing' }), ev('service_healthy', '2026-05-27T14:58:00Z', { service: 'fresh' })]);
    const w = renderWorld(m, desired, render, NOW);
    expect(Object.keys(w.services)).toEqual(['chelsty-infra/fresh', 'chelsty-infra/zigbee2mqtt']);
    expect(w.nodes['chelsty-infra']!.agent).toBe('alive');
    expect(w.nodes.piha).toMatchObject({ agent: 'silent', last_seen: null });
  });
  it('agent is silent after AGENT_SILENT_AFTER_S without events', () => {
    const m = run([ev('service_healthy', '2026-05-27T14:54:59Z')]);
    expect(renderWorld(m, {}, render, NOW).nodes['chelsty-infra']!.agent).toBe('silent');
    expect(renderWorld(m, {}, render, NOW - 2000).nodes['chelsty-infra']!.agent).toBe('alive');
  });
  it('is deterministic: the same model renders byte-identically', () => {
    const m = run([ev('service_healthy', '2026-05-27T14:58:00Z', { service: 'b' }), ev('service_healthy', '2026-05-27T14:58:00Z', { service: 'a' })]);
    expect(JSON.stringify(renderWorld(m, desired, render, NOW))).toBe(JSON.stringify(renderWorld(structuredClone(m), desired, render, NOW)));
    expect(Object.keys(renderWorld(m, {}, render, NOW).services)).toEqual(['chelsty-infra/a', 'chelsty-infra/b']);
  });
});

describe('fastEvent (the zod-free path) accepts only what EventSchema accepts, with the same value', () => {
  it('holds over 60 000 generated inputs, valid and broken', async () => {
    const { fastEvent } = await import('../../../src/domain/event-line.js');
    const { EventSchema } = await import('../../../src/domain/schemas.js');
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const pick = <T,>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const tss = ['2026-05-27T14:00:00.000Z', '2026-02-28T23:59:59.999Z', '2026-02-29T10:00:00.000Z', '2024-02-29T10:00:00.000Z', '2026-13-01T00:00:00.000Z', '2026-05-27T24:00:00.000Z', '2026-05-27T14:00:00Z', '2026-05-27T14:00:00.000+02:00', '2026-05-27 14:00:00.000Z', '', 'x', '0000-01-01T00:00:00.000Z', '2026-04-31T00:00:00.000Z', '2026-05-27T14:60:00.000Z'];
    const names = ['chelsty-infra', 'a', 'A.b_c-9', '-x', 'a/b', '', 'x'.repeat(63), 'x'.repeat(64), 'ü'];
    const types = ['service_healthy', 'node_heartbeat', 'a:b.c-d_e', '', 'with space', 't'.repeat(64), 't'.repeat(65)];
    const extras = [undefined, null, 5, 'x', [], {}, { a: 1 }, -1, 1.5, 2 ** 53, 0];
    let accepted = 0;
    for (let i = 0; i < 60_000; i++) {
      const raw: Record<string, unknown> = {};
      if (rand() < 0.97) raw.ts = rand() < 0.8 ? pick(tss) : pick(extras);
      if (rand() < 0.97) raw.node = rand() < 0.85 ? pick(names) : pick(extras);
      if (rand() < 0.97) raw.type = rand() < 0.85 ? pick(types) : pick(extras);
      if (rand() < 0.5) raw.service = rand() < 0.8 ? pick(names) : pick(extras);
      if (rand() < 0.3) raw.detail = pick(extras);
      if (rand() < 0.3) raw.seq = pick(extras);
      if (rand() < 0.3) raw.agent = rand() < 0.7 ? pick(['a1b2c3d4', 'x', 'A.b_c-9', 'x'.repeat(64), 'x'.repeat(65), '', 'a b', 'ü']) : pick(extras);
      if (rand() < 0.1) raw.extra = 'dropped';
      const input = rand() < 0.02 ? pick<unknown>([null, [], 'str', 7]) : raw;
      const fast = fastEvent(input);
      if (fast === undefined) continue;
      accepted++;
      const z = EventSchema.safeParse(input);
      expect(z.success, JSON.stringify(input)).toBe(true);
      expect(fast).toEqual(z.data);
    }
    expect(accepted).toBeGreaterThan(300);
  });
});

describe('timestamps ahead of the clock', () => {
  const line = (ts: string) => enc.encode(JSON.stringify({ ts, node: 'chelsty-infra', type: 'containers_not_running', service: 'zigbee2mqtt' }));
  const cfg = { aliases: {}, maxFutureMs: 300_000 };

  it('rejects an event stamped further ahead than the allowed skew, with the reason', () => {
    const r = parseEventLine(line('2026-05-27T15:06:00.000Z'), 'chelsty-infra', DAY, cfg, NOW);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/360 s ahead of this machine's clock/);
  });

  it('accepts one within the skew, and any when no clock is given (replay tools, tests)', () => {
    expect(parseEventLine(line('2026-05-27T15:04:59.000Z'), 'chelsty-infra', DAY, cfg, NOW).ok).toBe(true);
    expect(parseEventLine(line('2026-05-27T20:00:00.000Z'), 'chelsty-infra', DAY, cfg).ok).toBe(true);
  });
});

describe('the engine as the agent reports it', () => {
  const D = desiredState({ 'chelsty-infra': { zigbee2mqtt: {}, mosquitto: {}, homeassistant: { monitor: false } } });
  const hb = (ts: string, engine: string) => ev('node_heartbeat', ts, { detail: { engine } });

  it('unreachable: nodes.json says so with engine_since; every service of the node, reported or not, is unknown', () => {
    const m = run([ev('service_healthy', '2026-05-27T14:50:00.000Z', { service: 'mosquitto' }), hb('2026-05-27T14:55:00.000Z', 'unreachable'), hb('2026-05-27T14:56:00.000Z', 'unreachable')]);
    const w = renderWorld(m, D, render, NOW);
    expect(w.nodes['chelsty-infra']).toMatchObject({ engine: 'unreachable', engine_since: '2026-05-27T14:55:00.000Z', first_seen: '2026-05-27T14:50:00.000Z' });
    expect(w.services['chelsty-infra/mosquitto']).toMatchObject({ status: 'unknown', reason: 'engine_unreachable', since: '2026-05-27T14:55:00.000Z' });
    expect(w.services['chelsty-infra/zigbee2mqtt']).toMatchObject({ status: 'unknown', reason: 'engine_unreachable' });
    expect(w.services['chelsty-infra/homeassistant']).toBeUndefined(); // not watched
    // The model itself keeps what was last known.
    expect(m.services['chelsty-infra/mosquitto']!.status).toBe('healthy');
  });

  it('reachable again: the services are what the agent reports, the unreported one is missing again', () => {
    const m = run([ev('service_healthy', '2026-05-27T14:50:00.000Z', { service: 'mosquitto' }), hb('2026-05-27T14:55:00.000Z', 'unreachable'), hb('2026-05-27T14:57:00.000Z', 'ok')]);
    const w = renderWorld(m, D, render, NOW);
    expect(w.nodes['chelsty-infra']).toMatchObject({ engine: 'reachable', engine_since: '2026-05-27T14:57:00.000Z' });
    expect(w.services['chelsty-infra/mosquitto']!.status).toBe('healthy');
    expect(w.services['chelsty-infra/zigbee2mqtt']).toBeUndefined();
  });

  it('a late heartbeat (a spool draining) does not overwrite a newer one', () => {
    const m = run([hb('2026-05-27T14:57:00.000Z', 'ok'), hb('2026-05-27T14:55:00.000Z', 'unreachable')]);
    expect(renderWorld(m, D, render, NOW).nodes['chelsty-infra']!.engine).toBe('reachable');
  });
});

describe('the canonical-timestamp path', () => {
  // The Date-based rule every timestamp is judged by; canonical ones are compared as strings.
  function reference(ts: string, day: string, now: number, maxFutureMs: number): 'day' | 'future' | 'ok' {
    const t = Date.parse(ts);
    const start = Date.parse(`${day}T00:00:00.000Z`);
    if (t < start - 86_400_000 || t >= start + 2 * 86_400_000) return 'day';
    if (t > now + maxFutureMs) return 'future';
    return 'ok';
  }
  const verdict = (r: ReturnType<typeof parseEventLine>) => (r.ok ? 'ok' : /not on the file's day/.test(r.reason) ? 'day' : /ahead of this machine's clock/.test(r.reason) ? 'future' : r.reason);

  it('decides every boundary as the Date-based rule does', () => {
    const cfg = { aliases: {}, maxFutureMs: 300_000 };
    const now = Date.parse('2026-05-27T15:00:00.000Z');
    const edges = ['2026-05-26T00:00:00.000Z', '2026-05-25T23:59:59.999Z', '2026-05-28T23:59:59.999Z', '2026-05-29T00:00:00.000Z', '2026-05-27T15:05:00.000Z', '2026-05-27T15:05:00.001Z', '2026-05-27T00:00:00.000Z', '2026-05-01T00:00:00.000Z'];
    for (const ts of edges) {
      for (const day of ['2026-05-27', '2026-05-28', '2026-05-26']) {
        const line = JSON.stringify({ ts, node: 'n1', type: 'containers_not_running', service: 'a' });
        expect(verdict(parseEventLine(line, 'n1', day, cfg, now)), `${ts} in ${day}`).toBe(reference(ts, day, now, cfg.maxFutureMs));
        // As bytes (a chunk that was not all UTF-8) the same.
        expect(verdict(parseEventLine(enc.encode(line), 'n1', day, cfg, now))).toBe(reference(ts, day, now, cfg.maxFutureMs));
      }
    }
  });

  it('a line given as text with a leading BOM is read as one given as bytes is', () => {
    const line = `\ufeff${JSON.stringify({ ts: '2026-05-27T14:00:00.000Z', node: 'n1', type: 'service_healthy', service: 'a' })}`;
    expect(parseEventLine(line, 'n1', DAY, noAlias)).toEqual(parseEventLine(enc.encode(line), 'n1', DAY, noAlias));
    expect(parseEventLine(line, 'n1', DAY, noAlias).ok).toBe(true);
  });
});

describe('copy on write', () => {
  it('an object made since the last publish changes in place; one a world holds is copied first', () => {
    const fresh = new WeakSet<import('../../../src/domain/schemas.js').ServiceState>();
    const m = emptyModel();
    applyEvent(m, ev('service_healthy', '2026-05-27T14:00:00.000Z'), 'chelsty-infra', fresh);
    const made = m.services['chelsty-infra/zigbee2mqtt']!;
    applyEvent(m, ev('containers_not_running', '2026-05-27T14:01:00.000Z'), 'chelsty-infra', fresh);
    // Not published yet: the same object, changed.
    expect(m.services['chelsty-infra/zigbee2mqtt']).toBe(made);
    expect(made).toMatchObject({ status: 'unhealthy', since: '2026-05-27T14:01:00.000Z', last_healthy_at: '2026-05-27T14:00:00.000Z', changes: ['2026-05-27T14:01:00.000Z'] });
    // Published: a world holds it now, and a new set of fresh objects starts.
    const world = renderWorld(m, {}, render, NOW);
    const held = JSON.stringify(world.services);
    const after = new WeakSet<import('../../../src/domain/schemas.js').ServiceState>();
    applyEvent(m, ev('service_healthy', '2026-05-27T14:02:00.000Z'), 'chelsty-infra', after);
    applyEvent(m, ev('service_healthy', '2026-05-27T14:03:00.000Z'), 'chelsty-infra', after);
    expect(JSON.stringify(world.services)).toBe(held);
    const copy = m.services['chelsty-infra/zigbee2mqtt']!;
    expect(copy).not.toBe(made);
    expect(copy).toMatchObject({ status: 'healthy', last_event_at: '2026-05-27T14:03:00.000Z', last_incident: { reason: 'containers_not_running', started_at: '2026-05-27T14:01:00.000Z', resolved_at: '2026-05-27T14:02:00.000Z' }, changes: ['2026-05-27T14:01:00.000Z', '2026-05-27T14:02:00.000Z'] });
    // The same events without a fresh set give the same model.
    const plain = emptyModel();
    for (const [type, ts] of [['service_healthy', '14:00'], ['containers_not_running', '14:01'], ['service_healthy', '14:02'], ['service_healthy', '14:03']] as const) applyEvent(plain, ev(type, `2026-05-27T${ts}:00.000Z`), 'chelsty-infra');
    expect(plain.services).toEqual(m.services);
  });
});

describe('services that never changed share one empty list (docs/benchmarks.md: heap at 50 000 services)', () => {
  it('is shared until a service changes, and a change gives that service its own', () => {
    const m = run([ev('service_healthy', '2026-05-27T14:00:00.000Z'), ev('service_healthy', '2026-05-27T14:00:01.000Z', { service: 'mosquitto' })]);
    const z = m.services['chelsty-infra/zigbee2mqtt']!;
    const q = m.services['chelsty-infra/mosquitto']!;
    expect(z.changes).toBe(NO_CHANGES);
    expect(q.changes).toBe(NO_CHANGES);
    run([ev('containers_not_running', '2026-05-27T14:01:00.000Z')], m);
    expect(m.services['chelsty-infra/zigbee2mqtt']!.changes).toEqual(['2026-05-27T14:01:00.000Z']);
    expect(m.services['chelsty-infra/mosquitto']!.changes).toBe(NO_CHANGES);
    expect(NO_CHANGES).toEqual([]);
  });

  it('a model read back (JSON) shares it again', () => {
    const m = run([ev('service_healthy', '2026-05-27T14:00:00.000Z'), ev('containers_not_running', '2026-05-27T14:00:00.000Z', { service: 'mosquitto' })]);
    const back = JSON.parse(JSON.stringify(m)) as ObserverModel;
    shareNoChanges(back.services);
    expect(back.services['chelsty-infra/zigbee2mqtt']!.changes).toBe(NO_CHANGES);
    expect(back.services['chelsty-infra/mosquitto']!.changes).toBe(NO_CHANGES);
    expect(back).toEqual(m);
  });
});
