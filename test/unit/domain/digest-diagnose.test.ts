// The digest's content and the flood diagnosis, as pure functions: tables of worlds and answers.
import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { diagnose } from '../../../src/domain/diagnose.js';
import { digestOf } from '../../../src/domain/digest.js';
import type { DesiredState, World, WorldNode, WorldService } from '../../../src/domain/schemas.js';

const NOW = Date.parse('2026-05-27T14:00:00.000Z');
const at = (minutesAgo: number) => new Date(NOW - minutesAgo * 60_000).toISOString();

function node(name: string, agent: 'alive' | 'silent'): WorldNode {
  return { node: name, agent, last_seen: at(1), last_event_type: 'node_heartbeat', disk_pressure: null, disk_used_pct: null, disk_updated_at: null, events_applied: 1, events_unknown: 0 };
}
function svc(key: string, o: Partial<WorldService> = {}): WorldService {
  const [n, s] = key.split('/') as [string, string];
  return { node: n, service: s, status: 'healthy', reason: null, since: at(600), last_event_at: at(1), last_healthy_at: at(1), last_incident: null, ...o } as WorldService;
}
function desired(spec: Record<string, string[]>): DesiredState {
  return Object.fromEntries(Object.entries(spec).map(([n, ss]) => [n, { node: n, docker: {}, services: Object.fromEntries(ss.map((s) => [s, { node: n, service: s, containers: [s], monitor: !s.startsWith('off-'), auto_approve: false }])) }]));
}
const world = (services: WorldService[], nodes: WorldNode[]): World => ({ services: Object.fromEntries(services.map((s) => [`${s.node}/${s.service}`, s])), nodes: Object.fromEntries(nodes.map((n) => [n.node, n])) });

describe('diagnose', () => {
  const cases: { name: string; world: World; desired: DesiredState; suspects: string[] }[] = [
    { name: 'every node reports service_healthy', world: world([svc('a/web'), svc('b/db')], [node('a', 'alive'), node('b', 'alive')]), desired: desired({ a: ['web'], b: ['db'] }), suspects: [] },
    { name: 'a node whose newest service_healthy is 16 min old', world: world([svc('a/web', { last_healthy_at: at(16) }), svc('b/db')], [node('a', 'alive'), node('b', 'alive')]), desired: desired({ a: ['web'], b: ['db'] }), suspects: ['a'] },
    { name: 'a service that never reported', world: world([svc('a/web')], [node('a', 'alive')]), desired: desired({ a: ['web', 'api'] }), suspects: ['a'] },
    { name: 'a node with nothing monitored is left out', world: world([], []), desired: desired({ a: ['off-web'] }), suspects: [] },
    { name: 'a silent node that never reported', world: world([], []), desired: desired({ c: ['web'] }), suspects: ['c'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = diagnose(c.world, c.desired, NOW);
      expect(d.nodes.filter((n) => n.suspect).map((n) => n.node)).toEqual(c.suspects);
      expect(d.suspects).toBe(c.suspects.length);
    });
  }
  it('says what it saw per node', () => {
    const d = diagnose(world([svc('a/web', { last_healthy_at: at(3) })], [node('a', 'silent')]), desired({ a: ['web', 'api'] }), NOW);
    expect(d.nodes).toEqual([{ node: 'a', agent: 'silent', reported: 1, monitored: 2, last_healthy: at(3), suspect: true }]);
  });
});

describe('digestOf', () => {
  const act = (id: string, state: Action['state'], o: Partial<Action> = {}): Action => ({ id, instance: 'i', type: 'container_restart', risk: 'low', node: 'a', service: 'web', drift: 'unhealthy_service', trigger: 't', state, created_at: at(60), updated_at: at(30), history: [], ...o }) as Action;
  const w = world(
    [
      svc('a/web', { status: 'unhealthy', reason: 'healthcheck_failed', since: at(30) }),
      svc('a/old', { status: 'unhealthy', reason: 'x', since: at(3000) }),
      svc('b/db', { last_incident: { reason: 'containers_not_running', since: at(90), resolved_at: at(20) } as WorldService['last_incident'] }),
    ],
    [node('a', 'alive'), node('b', 'silent'), node('ghost', 'silent')],
  );
  const rows: { name: string; since: string | null; expect: (d: ReturnType<typeof digestOf>) => void }[] = [
    {
      name: 'since the last digest: opened, resolved, still unhealthy, silent agents of known nodes',
      since: at(120),
      expect: (d) => {
        expect(d.since).toBe(at(120));
        expect(d.opened.map((s) => s.service)).toEqual(['web']);
        expect(d.resolved.map((s) => s.service)).toEqual(['db']);
        expect(d.still_unhealthy.map((s) => s.service)).toEqual(['web', 'old']);
        expect(d.silent_agents).toEqual(['b']);
      },
    },
    { name: 'the first digest looks back 24 h', since: null, expect: (d) => expect(d.since).toBe(at(24 * 60)) },
    { name: 'a later since: nothing opened or resolved in it', since: at(10), expect: (d) => expect([d.opened.length, d.resolved.length]).toEqual([0, 0]) },
  ];
  for (const r of rows) {
    it(r.name, () => {
      const finished = [act('x1', 'completed'), act('x2', 'failed', { error: 'engine down' }), act('x3', 'rejected'), act('x4', 'cancelled', { cancel_reason: 'drift_resolved_auto' }), act('x5', 'failed'), act('x6', 'cancelled', { cancel_reason: 'cancelled_by_snooze' })];
      const d = digestOf({ since: r.since, now: NOW, world: w, desired: desired({ a: ['web', 'old'], b: ['db'] }), finished, pending: [act('p1', 'pending')] });
      expect(d.counts).toEqual({ completed: 1, failed: 2, rejected: 1, cancelled: 2 });
      // What stayed quiet is counted.
      expect(d.quiet).toEqual({ recovered_by_themselves: 1, snoozed: 1 });
      expect(d.failed.map((a) => a.id)).toEqual(['x2', 'x5']);
      expect(d.pending.map((a) => a.id)).toEqual(['p1']);
      r.expect(d);
    });
  }
});

describe('the digest and /status with the data retention measured', () => {
  it('say the bytes of each kind in one line; without a measure, nothing', async () => {
    const { renderDigest } = await import('../../../src/bot/render-replies.js');
    const world: World = { services: { 'n/a': svc('n/a') }, nodes: { n: node('n', 'alive') } };
    const input = { since: null, now: NOW, world, desired: desired({ n: ['a'] }), finished: [], pending: [] };
    const data = { events: 71_303_168, snapshot: 98_304, actions: 412_000, evidence: 0, archive: 0 };
    const text = renderDigest(digestOf({ ...input, data }), NOW);
    expect(text).toContain('💾 Data: events 68.0 MiB, snapshot 96.0 KiB, actions 402.3 KiB, evidence 0 B, archive 0 B');
    expect(renderDigest(digestOf(input), NOW)).not.toContain('Data:');
  });
});
