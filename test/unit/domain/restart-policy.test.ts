// No race with Docker's own restart policy: a container it is restarting gets a minute first,
// and when we do step in, the evidence names what Docker was doing.
import { describe, expect, it } from 'vitest';
import { plan, type PlanInput } from '../../../src/domain/plan.js';
import { evidenceFacts, type Evidence } from '../../../src/store/evidence.js';
import { desiredState } from '../../support/desired.js';

const NOW = Date.parse('2026-05-27T15:00:00.000Z');
const iso = (s: number) => new Date(NOW + s * 1000).toISOString();

function input(reason: string, sinceS: number): PlanInput {
  return {
    desired: desiredState({ nas: { app: {} } }),
    world: {
      services: { 'nas/app': { node: 'nas', service: 'app', status: 'unhealthy', reason, since: iso(-sinceS), last_event_at: iso(-sinceS), last_healthy_at: null, last_incident: null, changes: [] } },
      nodes: { nas: { node: 'nas', last_seen: iso(-5), last_event_type: 'node_heartbeat', disk_pressure: 'normal', disk_used_pct: 40, disk_updated_at: iso(-60), events_applied: 1, events_unknown: 0, agent: 'alive' } },
    },
    open: [],
    cooldowns: {},
    silences: [],
    held: {},
    desiredProblems: [],
    now: NOW,
  };
}

describe("Docker's restart policy first", () => {
  it.each([
    ['container_restarting', 30, []],
    ['container_restarting', 59, []],
    ['container_restarting', 61, ['redeploy-nas-app']],
    // Anything else is acted on at once, as before.
    ['containers_not_running', 1, ['container-restart-nas-app']],
    ['healthcheck_failed', 1, ['redeploy-nas-app']],
  ])('%s for %i s → %j', (reason, s, ids) => {
    expect(plan(input(reason, s)).create.map((d) => d.id)).toEqual(ids);
  });

  it('the evidence names the restart loop and its uncapped backoff', () => {
    const e: Evidence = {
      id: 'redeploy-nas-app',
      instance: '20260527T150000Z',
      collected_at: iso(0),
      containers: [{ name: 'app', state: 'restarting', exit_code: 1, oom_killed: false, restart_count: 7, started_at: null, finished_at: null, health: null, image: 'app:1', image_id: null, logs: [], logs_truncated: false }],
    } as Evidence;
    expect(evidenceFacts(e)).toEqual(["exit 1 · Docker's restart policy has restarted it 7 times and keeps trying, each wait twice the last with no cap (moby #41856)"]);
  });

  it("Docker's own restarts do not make the service flapping: after its minute, it is proposed", () => {
    const i = input('container_restarting', 90);
    const changes = Array.from({ length: 12 }, (_, k) => iso(-600 + k * 30));
    i.world.services['nas/app'] = { ...i.world.services['nas/app']!, changes };
    const p = plan(i);
    expect(p.notices.filter((n) => n.kind === 'flapping')).toEqual([]);
    expect(p.create.map((d) => d.id)).toEqual(['redeploy-nas-app']);
    // The same changes for another reason are flapping, as before.
    const other = input('healthcheck_failed', 90);
    other.world.services['nas/app'] = { ...other.world.services['nas/app']!, changes };
    expect(plan(other).notices.map((n) => n.kind)).toEqual(['flapping']);
  });
});

describe('a step of the wall clock', () => {
  it('no silent-node notice for every node at once just after it; nothing proposed for them either; the notice comes after the grace', () => {
    const i = input('containers_not_running', 1);
    i.world.nodes.nas = { ...i.world.nodes.nas!, agent: 'silent', last_seen: iso(-3600) };
    expect(plan(i).notices.map((n) => n.kind)).toEqual(['node_silent']);
    const stepped = { ...i, clockSteppedAt: NOW - 30_000 };
    expect(plan(stepped).notices).toEqual([]);
    expect(plan(stepped).create).toEqual([]);
    expect(plan({ ...i, clockSteppedAt: NOW - 121_000 }).notices.map((n) => n.kind)).toEqual(['node_silent']);
  });
});
