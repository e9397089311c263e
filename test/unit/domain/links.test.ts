// Dependencies learned from the engine: what the agent reads off the containers (agent/links.ts),
// how the world keeps the newest report (observe.ts), and the edges the plan takes from it.
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { linksOf } from '../../../src/agent/links.js';
import { learnedEdges } from '../../../src/domain/dependencies.js';
import { parseEventLine } from '../../../src/domain/event-line.js';
import { applyEvent, emptyModel } from '../../../src/domain/observe.js';
import type { NodeEvent } from '../../../src/domain/schemas.js';
import { desiredState } from '../../support/desired.js';

const info = (name: string, id: string, over: { mode?: string; labels?: Record<string, string> } = {}) =>
  ({ Id: id, Name: `/${name}`, HostConfig: { NetworkMode: over.mode ?? 'bridge' }, Config: { Labels: over.labels ?? {} }, State: { Running: true } }) as unknown as Docker.ContainerInspectInfo;

describe('links the agent reads off the engine', () => {
  const desired = desiredState({ nas: { vpn: { containers: ['gluetun'] }, a1: {}, a2: {}, web: {}, db: { containers: ['stack-db-1'] } } }).nas!;
  const VPN = 'f'.repeat(64);
  const names: Record<string, string> = { [VPN]: 'gluetun', ['e'.repeat(64)]: 'stranger' };

  it('network_mode container:<id> → the service whose container it is; compose depends_on → the service running that compose service', async () => {
    const infos = new Map([
      ['vpn', [info('gluetun', VPN)]],
      ['a1', [info('a1', 'a'.repeat(64), { mode: `container:${VPN}` })]],
      ['a2', [info('a2', 'b'.repeat(64), { mode: 'container:e'.padEnd(74, 'e') })]],
      ['web', [info('web', 'c'.repeat(64), { labels: { 'com.docker.compose.project': 'stack', 'com.docker.compose.service': 'web', 'com.docker.compose.depends_on': 'db:service_healthy:false,cache:service_started:false' } })]],
      ['db', [info('stack-db-1', 'd'.repeat(64), { labels: { 'com.docker.compose.project': 'stack', 'com.docker.compose.service': 'db' } })]],
    ]);
    const links = await linksOf(desired, infos, async (id) => names[id]);
    expect(Object.fromEntries(links)).toEqual({
      a1: [{ on: 'vpn', container: 'gluetun', how: 'network' }],
      // A container services.yaml does not name: shown, never acted on.
      a2: [{ on: null, container: 'stranger', how: 'network' }],
      web: [
        { on: null, container: 'stack-cache', how: 'compose' },
        { on: 'db', container: 'stack-db-1', how: 'compose' },
      ],
    });
  });

  it('the world keeps each service\'s newest report; an empty list clears it; an older one or garbage changes nothing', () => {
    const enc = new TextEncoder();
    const ev = (ts: string, links: unknown): NodeEvent => {
      const r = parseEventLine(enc.encode(JSON.stringify({ ts, node: 'nas', type: 'healthcheck_failed', service: 'a1', detail: { links } })), 'nas', ts.slice(0, 10), { aliases: {} });
      if (!r.ok) throw new Error(r.reason);
      return r.event;
    };
    const m = emptyModel();
    applyEvent(m, ev('2026-05-27T14:00:00Z', [{ on: 'vpn', container: 'gluetun', how: 'network' }]), 'nas');
    expect(m.nodes.nas!.links).toEqual({ a1: { at: '2026-05-27T14:00:00.000Z', on: [{ on: 'vpn', container: 'gluetun', how: 'network' }] } });
    applyEvent(m, ev('2026-05-27T13:00:00Z', []), 'nas');
    applyEvent(m, ev('2026-05-27T14:01:00Z', 'not links'), 'nas');
    expect(m.nodes.nas!.links?.a1?.on).toHaveLength(1);
    expect(learnedEdges({ ...m.nodes.nas!, agent: 'alive' })).toEqual([{ service: 'a1', on: 'vpn', source: 'engine', how: 'network' }]);
    applyEvent(m, ev('2026-05-27T14:02:00Z', []), 'nas');
    expect(m.nodes.nas!.links).toEqual({});
  });

  it('a link to a container services.yaml does not name is shown (with where it came from), never acted on', async () => {
    const { dependencyList, dependencyLine } = await import('../../../src/domain/dependencies.js');
    const { plan } = await import('../../../src/domain/plan.js');
    const desired = desiredState({ nas: { a2: {}, vpn: {} } });
    const at = '2026-05-27T14:00:00.000Z';
    const svc = (service: string, status: 'healthy' | 'unhealthy') => ({ node: 'nas', service, status, reason: status === 'unhealthy' ? 'healthcheck_failed' : null, since: at, last_event_at: at, last_healthy_at: null, last_incident: null, changes: [] });
    const world = {
      services: { 'nas/a2': svc('a2', 'unhealthy'), 'nas/vpn': svc('vpn', 'unhealthy') },
      nodes: { nas: { node: 'nas', last_seen: at, last_event_type: 'node_heartbeat', disk_pressure: 'normal' as const, disk_used_pct: 1, disk_updated_at: at, events_applied: 1, events_unknown: 0, agent: 'alive' as const, links: { a2: { at, on: [{ on: null, container: 'stranger', how: 'network' as const }] } } } },
    };
    const shown = dependencyList(desired, world);
    expect(shown.map(dependencyLine)).toEqual(['nas: a2 → stranger (engine: network, container stranger is not in services.yaml: shown, not acted on)']);
    const p = plan({ desired, world, open: [], cooldowns: {}, silences: [], held: {}, desiredProblems: [], now: Date.parse(at) + 60_000 });
    expect(p.create.map((d) => [d.service, d.chain ?? null])).toEqual([
      ['a2', null],
      ['vpn', null],
    ]);
  });
});
