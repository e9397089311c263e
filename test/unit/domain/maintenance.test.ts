// Maintenance in the plan: recorded, not acted on; one notice while it lasts; `updates: auto`
// goes ahead inside it (and waits for it on a node with windows); what still drifts when it ends
// is proposed at once, and the end summary says what happened.
import { describe, expect, it } from 'vitest';
import { maintenanceSummary } from '../../../src/domain/maintenance.js';
import { plan, type PlanInput } from '../../../src/domain/plan.js';
import type { DesiredState, UpdatePolicy, World } from '../../../src/domain/schemas.js';
import type { Silence } from '../../../src/domain/silences.js';
import { TimeIntervalSchema } from '../../../src/domain/time-intervals.js';
import { desiredState } from '../../support/desired.js';

// Saturday 2026-06-06, 02:30 in Berlin (00:30 UTC).
const IN = Date.parse('2026-06-06T00:30:00.000Z');
const AFTER = Date.parse('2026-06-06T02:01:00.000Z');
const iso = (t: number) => new Date(t).toISOString();
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const nightly = TimeIntervalSchema.parse({ weekdays: ['saturday', 'sunday'], times: [{ start_time: '02:00', end_time: '04:00' }], location: 'Europe/Berlin' });

function desired(updates: UpdatePolicy = 'off', withWindow = true): DesiredState {
  const d = desiredState({ nas: { app: { updates }, db: {} } });
  if (withWindow) d.nas!.maintenance = [nightly];
  return d;
}
function world(now: number, app: 'healthy' | 'unhealthy', silent = false): World {
  const since = iso(now - 600_000);
  return {
    services: {
      'nas/app': { node: 'nas', service: 'app', status: app, reason: app === 'unhealthy' ? 'containers_not_running' : null, since, last_event_at: since, last_healthy_at: null, last_incident: null, changes: [] },
      'nas/db': { node: 'nas', service: 'db', status: 'healthy', reason: null, since, last_event_at: since, last_healthy_at: since, last_incident: { reason: 'healthcheck_failed', started_at: iso(IN - 300_000), resolved_at: iso(IN - 60_000) }, changes: [] },
    },
    nodes: { nas: { node: 'nas', last_seen: silent ? iso(now - 3_600_000) : iso(now - 5000), last_event_type: 'node_heartbeat', disk_pressure: 'high', disk_used_pct: 95, disk_updated_at: since, events_applied: 1, events_unknown: 0, agent: silent ? 'silent' : 'alive' } },
  };
}
function input(now: number, over: Partial<PlanInput> = {}): PlanInput {
  return { desired: desired(), world: world(now, 'unhealthy'), open: [], cooldowns: {}, silences: [], held: {}, desiredProblems: [], now, ...over };
}
const updates = { 'nas/app': { node: 'nas', service: 'app', checked_at: iso(IN - 3_600_000), images: [{ image: 'app:latest', containers: ['app'], repository: 'docker.io/library/app', tag: 'latest', local_digest: D1, remote_digest: D2, status: 'image_update_available' as const }] } };

describe('maintenance windows in the plan', () => {
  it('inside the window: nothing proposed (not the drift, not the disk), one maintenance notice and no other', () => {
    const p = plan(input(IN, { world: world(IN, 'unhealthy', true) }));
    expect(p.create).toEqual([]);
    expect(p.notices.map((n) => [n.key, n.kind])).toEqual([['maintenance-nas', 'maintenance']]);
    expect(p.notices[0]!.message).toMatch(/^Maintenance on nas until 2026-06-06 02:00 UTC, a window in services\.yaml\./);
  });

  it('when it ends, what still drifts is proposed at once (and the disk), and the notice is gone', () => {
    const p = plan(input(AFTER));
    expect(p.create.map((d) => d.id).sort()).toEqual(['container-restart-nas-app', 'disk-cleanup-nas']);
    expect(p.notices.filter((n) => n.kind === 'maintenance')).toEqual([]);
  });

  it('ad hoc for one service: that service is quiet, the others are not', () => {
    const adHoc: Silence[] = [{ id: 'a1', target: 'nas/app', until: iso(IN + 3_600_000), created_at: iso(IN), by: '@me', reason: 'moving disks' }];
    const d = desired('off', false);
    const p = plan(input(IN, { desired: d, maintenance: adHoc }));
    expect(p.create.map((x) => x.id)).toEqual(['disk-cleanup-nas']);
    expect(p.notices.map((n) => n.key)).toEqual(['maintenance-nas-app']);
    expect(p.notices[0]!.message).toContain('started by @me: moving disks');
  });

  it('updates: auto goes ahead inside the window, and on a node with windows waits for one; approve waits for the end', () => {
    const healthy = (now: number) => world(now, 'healthy');
    expect(plan(input(IN, { desired: desired('auto'), world: healthy(IN), updates })).create.filter((d) => d.type === 'image_update').map((d) => d.id)).toEqual(['image-update-nas-app']);
    expect(plan(input(AFTER, { desired: desired('auto'), world: healthy(AFTER), updates })).create.filter((d) => d.type === 'image_update')).toEqual([]);
    expect(plan(input(AFTER, { desired: desired('auto', false), world: healthy(AFTER), updates })).create.filter((d) => d.type === 'image_update').map((d) => d.id)).toEqual(['image-update-nas-app']);
    expect(plan(input(IN, { desired: desired('approve'), world: healthy(IN), updates })).create.filter((d) => d.type === 'image_update')).toEqual([]);
    expect(plan(input(AFTER, { desired: desired('approve'), world: healthy(AFTER), updates })).create.filter((d) => d.type === 'image_update').map((d) => d.id)).toEqual(['image-update-nas-app']);
  });

  it('the end summary: what went down and came back, what still drifts', () => {
    const text = maintenanceSummary(world(AFTER, 'unhealthy'), desired(), 'nas', iso(IN - 600_000), AFTER);
    expect(text).toBe('Maintenance on nas ended after 101 min. Down and back during it: db (healthcheck_failed 00:25–00:29 UTC). Still drifting, proposed now: app (containers_not_running since 01:51 UTC).');
  });
});
