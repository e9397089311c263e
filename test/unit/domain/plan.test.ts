import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { desiredSince, plan, type PlanInput } from '../../../src/domain/plan.js';
import { cooldownUntil, isFlapping, ownWindows, updateCooldowns } from '../../../src/domain/cooldowns.js';
import { reviewRemovals } from '../../../src/domain/removals.js';
import type { World, WorldNode, WorldService } from '../../../src/domain/schemas.js';
import { desiredState } from '../../support/desired.js';

const NOW = Date.parse('2026-05-27T15:00:00.000Z');
const iso = (offsetS: number) => new Date(NOW + offsetS * 1000).toISOString();

const desired = desiredState;

function node(name: string, extra: Partial<WorldNode> = {}): WorldNode {
  return {
    node: name,
    last_seen: iso(-10),
    last_event_type: 'node_heartbeat',
    disk_pressure: 'normal',
    disk_used_pct: 40,
    disk_updated_at: iso(-7200),
    events_applied: 1,
    events_unknown: 0,
    agent: 'alive',
    ...extra,
  };
}
function svc(key: string, status: 'healthy' | 'unhealthy', reason: string | null = null, extra: Partial<WorldService> = {}): WorldService {
  const [n, s] = key.split('/') as [string, string];
  return { node: n, service: s, status, reason, since: iso(-120), last_event_at: iso(-60), last_healthy_at: null, last_incident: null, changes: [], ...extra };
}
function world(services: WorldService[], nodes: WorldNode[] = [node('chelsty-infra')]): World {
  return { services: Object.fromEntries(services.map((s) => [`${s.node}/${s.service}`, s])), nodes: Object.fromEntries(nodes.map((n) => [n.node, n])) };
}
function action(id: string, state: Action['state'], extra: Partial<Action> = {}): Action {
  return {
    id,
    instance: '20260527T140000Z',
    type: id.startsWith('redeploy') ? 'redeploy' : id.startsWith('disk') ? 'disk_cleanup' : 'container_restart',
    risk: id.startsWith('container') ? 'low' : 'guarded',
    node: 'chelsty-infra',
    service: id.startsWith('disk') ? null : id.split('-').slice(-1)[0]!,
    drift: 'unhealthy_service',
    trigger: 'containers_not_running',
    state,
    created_at: iso(-600),
    updated_at: iso(-600),
    history: [],
    ...extra,
  };
}

const D = desired({ 'chelsty-infra': { zigbee2mqtt: {}, mosquitto: {} } });
function input(over: Partial<PlanInput>): PlanInput {
  return { desired: D, world: world([svc('chelsty-infra/mosquitto', 'healthy')]), open: [], cooldowns: {}, silences: [], held: {}, desiredProblems: [], now: NOW, ...over };
}

describe('plan: drift → action', () => {
  it.each([
    ['containers_not_running', 'container_restart', 'low', 'container-restart-chelsty-infra-zigbee2mqtt'],
    ['mqtt_unreachable', 'container_restart', 'low', 'container-restart-chelsty-infra-zigbee2mqtt'],
    ['healthcheck_failed', 'redeploy', 'guarded', 'redeploy-chelsty-infra-zigbee2mqtt'],
    ['service_unhealthy', 'redeploy', 'guarded', 'redeploy-chelsty-infra-zigbee2mqtt'],
    ['container_restarting', 'redeploy', 'guarded', 'redeploy-chelsty-infra-zigbee2mqtt'],
    ['backup_failed', 'redeploy', 'guarded', 'redeploy-chelsty-infra-zigbee2mqtt'],
  ])('unhealthy_service with trigger %s → %s (%s) as %s', (trigger, type, risk, id) => {
    const p = plan(input({ world: world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', trigger), svc('chelsty-infra/mosquitto', 'healthy')]) }));
    expect(p.create).toEqual([
      {
        id,
        instance: '20260527T150000Z',
        type,
        risk,
        node: 'chelsty-infra',
        service: 'zigbee2mqtt',
        drift: 'unhealthy_service',
        trigger,
        containers: ['zigbee2mqtt'],
        drift_since: iso(-120),
      },
    ]);
    expect(p.cancel).toEqual([]);
  });

  it('missing_service → redeploy (guarded) with trigger missing_service', () => {
    const p = plan(input({}));
    expect(p.create).toHaveLength(1);
    expect(p.create[0]).toMatchObject({ id: 'redeploy-chelsty-infra-zigbee2mqtt', drift: 'missing_service', trigger: 'missing_service', type: 'redeploy', risk: 'guarded' });
  });

  it('disk_pressure high → disk-cleanup-{node} (guarded); normal again → drift_resolved_auto', () => {
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'healthy'), svc('chelsty-infra/mosquitto', 'healthy')], [node('chelsty-infra', { disk_pressure: 'high' })]);
    const p = plan(input({ world: w }));
    expect(p.create).toEqual([expect.objectContaining({ id: 'disk-cleanup-chelsty-infra', type: 'disk_cleanup', risk: 'guarded', drift: 'disk_pressure', service: null })]);
    const w2 = world([svc('chelsty-infra/zigbee2mqtt', 'healthy'), svc('chelsty-infra/mosquitto', 'healthy')]);
    const p2 = plan(input({ world: w2, open: [action('disk-cleanup-chelsty-infra', 'pending')] }));
    expect(p2.cancel).toEqual([{ id: 'disk-cleanup-chelsty-infra', instance: '20260527T140000Z', reason: 'drift_resolved_auto' }]);
  });

  it('is idempotent: an open id (pending, approved or running) is not proposed again', () => {
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running'), svc('chelsty-infra/mosquitto', 'healthy')]);
    for (const st of ['pending', 'approved', 'running'] as const) {
      expect(plan(input({ world: w, open: [action('container-restart-chelsty-infra-zigbee2mqtt', st)] })).create).toEqual([]);
    }
  });

  it('monitor: false is skipped silently', () => {
    const d = desired({ 'chelsty-infra': { zigbee2mqtt: { monitor: false }, mosquitto: {} } });
    const p = plan(input({ desired: d }));
    expect(p.create).toEqual([]);
    expect(p.notices).toEqual([]);
  });
});

describe('plan: auto-cancel', () => {
  it('drift_resolved_auto when the service is healthy again', () => {
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'healthy'), svc('chelsty-infra/mosquitto', 'healthy')]);
    const p = plan(input({ world: w, open: [action('container-restart-chelsty-infra-zigbee2mqtt', 'pending')] }));
    expect(p.cancel).toEqual([{ id: 'container-restart-chelsty-infra-zigbee2mqtt', instance: '20260527T140000Z', reason: 'drift_resolved_auto' }]);
  });
  it('service_removed_from_desired_state when removed or monitor: false', () => {
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running'), svc('chelsty-infra/mosquitto', 'healthy')]);
    const open = [action('container-restart-chelsty-infra-zigbee2mqtt', 'pending')];
    for (const d of [desired({ 'chelsty-infra': { mosquitto: {} } }), desired({ 'chelsty-infra': { mosquitto: {}, zigbee2mqtt: { monitor: false } } })]) {
      const p = plan(input({ desired: d, world: w, open }));
      expect(p.cancel).toEqual([{ id: 'container-restart-chelsty-infra-zigbee2mqtt', instance: '20260527T140000Z', reason: 'service_removed_from_desired_state' }]);
      expect(p.create).toEqual([]);
    }
  });
  it('superseded when the service now needs the other action type', () => {
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'healthcheck_failed'), svc('chelsty-infra/mosquitto', 'healthy')]);
    const p = plan(input({ world: w, open: [action('container-restart-chelsty-infra-zigbee2mqtt', 'pending')] }));
    expect(p.cancel).toEqual([{ id: 'container-restart-chelsty-infra-zigbee2mqtt', instance: '20260527T140000Z', reason: 'superseded' }]);
    expect(p.create.map((c) => c.id)).toEqual(['redeploy-chelsty-infra-zigbee2mqtt']);
  });
  it('never cancels approved or running actions, and waits for them', () => {
    const healthy = world([svc('chelsty-infra/zigbee2mqtt', 'healthy'), svc('chelsty-infra/mosquitto', 'healthy')]);
    const other = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'healthcheck_failed'), svc('chelsty-infra/mosquitto', 'healthy')]);
    for (const st of ['approved', 'running'] as const) {
      const open = [action('container-restart-chelsty-infra-zigbee2mqtt', st)];
      expect(plan(input({ world: healthy, open })).cancel).toEqual([]);
      expect(plan(input({ desired: desired({ 'chelsty-infra': { mosquitto: {} } }), world: healthy, open })).cancel).toEqual([]);
      const p = plan(input({ world: other, open }));
      expect(p.cancel).toEqual([]);
      expect(p.create).toEqual([]);
    }
  });
});

describe('plan: no storms', () => {
  it('a silent node gets one notice and no per-service actions', () => {
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running')], [node('chelsty-infra', { agent: 'silent', last_seen: iso(-3600), disk_pressure: 'high' })]);
    const p = plan(input({ world: w }));
    expect(p.create).toEqual([]);
    expect(p.notices).toEqual([expect.objectContaining({ key: 'node-silent-chelsty-infra', kind: 'node_silent', node: 'chelsty-infra' })]);
    expect(p.notices[0]!.message).toMatch(/60 min/);
  });
  it('a node never heard from is silent too', () => {
    const p = plan(input({ world: world([], []) }));
    expect(p.create).toEqual([]);
    expect(p.notices.map((n) => n.key)).toEqual(['node-silent-chelsty-infra']);
  });
  it('cooldown after an outcome: 10 min, doubling, at most 6 h', () => {
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running'), svc('chelsty-infra/mosquitto', 'healthy')]);
    const id = 'container-restart-chelsty-infra-zigbee2mqtt';
    const entry = (count: number, agoS: number) => ({ [id]: { node: 'chelsty-infra', service: 'zigbee2mqtt', type: 'container_restart' as const, count, last_at: iso(-agoS) } });
    expect(plan(input({ world: w, cooldowns: entry(1, 599) })).create).toEqual([]);
    expect(plan(input({ world: w, cooldowns: entry(1, 601) })).create).toHaveLength(1);
    expect(plan(input({ world: w, cooldowns: entry(2, 1199) })).create).toEqual([]);
    expect(plan(input({ world: w, cooldowns: entry(2, 1201) })).create).toHaveLength(1);
    expect(cooldownUntil(entry(12, 0)[id]) - NOW).toBe(6 * 3600 * 1000);
    expect(plan(input({ world: w, cooldowns: entry(0, 1) })).create).toHaveLength(1);
  });
  it('cooldown counts completed, failed and rejected outcomes once, and resets after 30 min healthy', () => {
    const id = 'container-restart-chelsty-infra-zigbee2mqtt';
    const done = [action(id, 'failed', { finished_at: iso(-100) }), action(id, 'cancelled', { updated_at: iso(-50) })];
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running')]);
    let c = updateCooldowns({}, done, w, NOW);
    expect(c[id]).toMatchObject({ count: 1, last_at: iso(-100) });
    c = updateCooldowns(c, done, w, NOW);
    expect(c[id]!.count).toBe(1);
    c = updateCooldowns(c, [action(id, 'rejected', { finished_at: iso(-10) })], w, NOW);
    expect(c[id]!.count).toBe(2);
    const healthyLong = world([svc('chelsty-infra/zigbee2mqtt', 'healthy', null, { since: iso(-1800) })]);
    expect(updateCooldowns(c, [], healthyLong, NOW + 1800_000)[id]!.count).toBe(0);
    const healthyShort = world([svc('chelsty-infra/zigbee2mqtt', 'healthy', null, { since: iso(1800 - 60) })]);
    expect(updateCooldowns(c, [], healthyShort, NOW + 1800_000)[id]!.count).toBe(2);
  });
  it('flapping: more than 6 changes in 30 min → one notice, no proposal, until steady 30 min', () => {
    const changes = [-1700, -1500, -1200, -900, -600, -300, -100].map(iso);
    expect(isFlapping(changes, NOW)).toBe(true);
    expect(isFlapping(changes.slice(1), NOW)).toBe(false);
    expect(isFlapping(changes, NOW + 1800_000)).toBe(false);
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running', { changes }), svc('chelsty-infra/mosquitto', 'healthy')]);
    const p = plan(input({ world: w }));
    expect(p.create).toEqual([]);
    expect(p.notices).toEqual([expect.objectContaining({ key: 'flapping-chelsty-infra-zigbee2mqtt', kind: 'flapping' })]);
  });
  it('silences suppress proposals for a service or a whole node until they expire', () => {
    const w = world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running'), svc('chelsty-infra/mosquitto', 'healthy')], [node('chelsty-infra', { disk_pressure: 'high' })]);
    const s = (target: string, untilS: number) => [{ id: 'x', target, until: iso(untilS), created_at: iso(-10) }];
    expect(plan(input({ world: w, silences: s('chelsty-infra/zigbee2mqtt', 60) })).create.map((c) => c.id)).toEqual(['disk-cleanup-chelsty-infra']);
    expect(plan(input({ world: w, silences: s('chelsty-infra', 60) })).create).toEqual([]);
    expect(plan(input({ world: w, silences: s('chelsty-infra', -1) })).create).toHaveLength(2);
    expect(plan(input({ world: w, silences: s('chelsty-infra/mosquitto', 60) })).create).toHaveLength(2);
  });
});

describe('bulk removal hold', () => {
  const big = desired({ n: Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((s) => [s, {}])) });
  const accepted = { n: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] };
  it('removing more than 25 % of a node at once is held; nothing is cancelled for it', () => {
    const after = desired({ n: { a: {}, b: {}, c: {}, d: {}, e: {} } });
    const r = reviewRemovals(accepted, after);
    expect(r.held).toEqual({ n: ['f', 'g', 'h'] });
    expect(r.accepted.n).toEqual(accepted.n);
    const w = world([], [node('n')]);
    const p = plan(input({ desired: after, world: w, held: r.held, open: [action('redeploy-n-g', 'pending', { node: 'n', service: 'g' })] }));
    expect(p.cancel).toEqual([]);
    expect(p.notices.map((x) => x.key)).toContain('bulk-removal-n');
  });
  it('more than 5 services across nodes at once is held', () => {
    const acc = { x: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'y', 'z'], y: ['a'] };
    const after = desired({ x: Object.fromEntries(acc.x.slice(5).map((s) => [s, {}])), y: {} });
    expect(Object.keys(reviewRemovals(acc, after).held).sort()).toEqual(['x', 'y']);
  });
  it('a single removal, or a confirmed one, goes through', () => {
    const after = desired({ n: Object.fromEntries(accepted.n.slice(1).map((s) => [s, {}])) });
    expect(reviewRemovals(accepted, after).held).toEqual({});
    const small = desired({ n: { a: {}, b: {} } });
    expect(reviewRemovals({ n: ['a', 'b', 'c'] }, small).held).toEqual({});
    const r = reviewRemovals(accepted, desired({ n: { a: {} } }), ['n']);
    expect(r.held).toEqual({});
    expect(r.accepted).toEqual({ n: ['a'] });
    expect(reviewRemovals(undefined, big).accepted).toEqual(accepted);
  });
});

describe('plan: notices for a broken desired-state file', () => {
  it('one notice per node naming file, line and reason', () => {
    const p = plan(input({ desiredProblems: [{ node: 'chelsty-infra', file: 'hosts/chelsty-infra/services.yaml', line: 3, reason: 'YAML: bad' }] }));
    expect(p.notices).toEqual([expect.objectContaining({ key: 'desired-invalid-chelsty-infra', kind: 'desired_invalid' })]);
    expect(p.notices[0]!.message).toContain('hosts/chelsty-infra/services.yaml:3: YAML: bad');
  });
});

describe('plan: two agents running for one node', () => {
  it('opens one notice naming both instances, its revision the set; services are planned as usual', () => {
    const two = node('chelsty-infra', { agents_running: ['a1b2c3d4', 'e5f6a7b8'] });
    const p = plan(input({ world: world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running')], [two]) }));
    expect(p.notices).toEqual([expect.objectContaining({ key: 'agents-running-chelsty-infra', kind: 'agents_running', revision: 'a1b2c3d4,e5f6a7b8', message: expect.stringMatching(/Two agents .* a1b2c3d4, e5f6a7b8/) })]);
    expect(p.create).toContainEqual(expect.objectContaining({ id: 'container-restart-chelsty-infra-zigbee2mqtt' }));
    expect(plan(input({ world: world([], [node('chelsty-infra')]) })).notices).toEqual([]);
  });
});

describe('plan: a node whose agent cannot reach its engine', () => {
  const down = node('chelsty-infra', { engine: 'unreachable', engine_since: iso(-300) });
  const unknown = (key: string) => svc(key, 'unknown' as never, 'engine_unreachable', { since: iso(-300) });

  it('proposes nothing for its services (not redeploy for "missing" ones) and opens one notice', () => {
    const p = plan(input({ world: world([unknown('chelsty-infra/zigbee2mqtt'), unknown('chelsty-infra/mosquitto')], [down]) }));
    expect(p.create).toEqual([]);
    expect(p.notices).toEqual([
      expect.objectContaining({ key: 'engine-unreachable-chelsty-infra', kind: 'engine_unreachable', node: 'chelsty-infra', message: expect.stringMatching(/cannot reach its Docker Engine .* 2 services is unknown/) }),
    ]);
  });

  it('proposes nothing even for a service world state never heard of, nor a disk cleanup', () => {
    const p = plan(input({ world: world([], [{ ...down, disk_pressure: 'high' }]) }));
    expect(p.create).toEqual([]);
  });

  it('keeps open actions (an approval would fail, a cancel would lie) and closes the notice when the engine is back', () => {
    const open = [action('redeploy-chelsty-infra-zigbee2mqtt', 'pending')];
    const p = plan(input({ open, world: world([unknown('chelsty-infra/zigbee2mqtt'), unknown('chelsty-infra/mosquitto')], [down]) }));
    expect(p.cancel).toEqual([]);
    const back = plan(input({ world: world([svc('chelsty-infra/zigbee2mqtt', 'healthy'), svc('chelsty-infra/mosquitto', 'healthy')], [node('chelsty-infra', { engine: 'reachable' })]) }));
    expect(back.notices).toEqual([]);
  });
});

describe('plan: status changes our own actions made are not flapping', () => {
  // Two updates and a rollback: each recreate turns the service unhealthy, then healthy again.
  const upd = (i: number, start: number, end: number) =>
    action(`image-update-chelsty-infra-zigbee2mqtt`, 'completed', { type: 'image_update', instance: `20260527T14${String(i).padStart(2, '0')}00Z`, started_at: iso(start), finished_at: iso(end), updated_at: iso(end) });
  const ours = [upd(1, -1500, -1400), upd(2, -1000, -900), { ...upd(3, -600, -480), state: 'failed' as const, error: 'rolled back' }];
  // Two changes inside each action and its verification window (120 s after it ended).
  const changes = [iso(-1480), iso(-1350), iso(-980), iso(-850), iso(-580), iso(-400)];
  const down = svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running', { changes: [...changes, iso(-60)] });

  it('the same changes are flapping without the windows, and not with them: the restart is proposed', () => {
    expect(plan(input({ world: world([down, svc('chelsty-infra/mosquitto', 'healthy')]) })).notices.map((n) => n.kind)).toEqual(['flapping']);
    const own = ownWindows(ours, NOW);
    expect(own['chelsty-infra/zigbee2mqtt']).toHaveLength(3);
    const p = plan(input({ world: world([down, svc('chelsty-infra/mosquitto', 'healthy')]), own }));
    expect(p.notices).toEqual([]);
    expect(p.create.map((c) => c.id)).toEqual(['container-restart-chelsty-infra-zigbee2mqtt']);
  });

  it('a running action\'s window lasts until now and its verification; changes outside every window still count', () => {
    const running = action('redeploy-chelsty-infra-zigbee2mqtt', 'running', { started_at: iso(-30) });
    expect(ownWindows([running], NOW)['chelsty-infra/zigbee2mqtt']).toEqual([{ from: iso(-30), to: iso(120) }]);
    const flappingOnItsOwn = svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running', { changes: Array.from({ length: 8 }, (_, i) => iso(-700 + i * 60)) });
    const p = plan(input({ world: world([flappingOnItsOwn, svc('chelsty-infra/mosquitto', 'healthy')]), own: ownWindows(ours.slice(0, 1), NOW) }));
    expect(p.notices.map((n) => n.kind)).toEqual(['flapping']);
  });
});

describe('plan: MISSING_GRACE_S after a node first speaks', () => {
  const cfg = { cooldownBaseS: 600, cooldownMaxS: 21600, steadyS: 1800, flapChanges: 6, missingGraceS: 60 };
  it('a service not reported yet is not missing while the grace runs', () => {
    const fresh = node('chelsty-infra', { first_seen: iso(-30) });
    const p = plan(input({ cfg, world: world([svc('chelsty-infra/mosquitto', 'healthy')], [fresh]) }));
    expect(p.create).toEqual([]);
  });
  it('a service added to services.yaml later gets the grace from when it was added', () => {
    const old = node('chelsty-infra', { first_seen: iso(-3600) });
    const w = world([svc('chelsty-infra/mosquitto', 'healthy')], [old]);
    expect(plan(input({ cfg, world: w, desiredSince: { 'chelsty-infra/zigbee2mqtt': iso(-30) } })).create).toEqual([]);
    expect(plan(input({ cfg, world: w, desiredSince: { 'chelsty-infra/zigbee2mqtt': iso(-61) } })).create.map((c) => c.id)).toEqual(['redeploy-chelsty-infra-zigbee2mqtt']);
    expect(plan(input({ cfg, world: w, desiredSince: { 'chelsty-infra/zigbee2mqtt': '' } })).create.map((c) => c.id)).toEqual(['redeploy-chelsty-infra-zigbee2mqtt']);
  });
  it('desiredSince: the first run marks every service as there long ago; later additions get now; removals drop out', () => {
    const d1 = desired({ n1: { a: {}, b: { monitor: false } } });
    const first = desiredSince(undefined, d1, NOW);
    expect(first).toEqual({ 'n1/a': '' });
    const d2 = desired({ n1: { a: {}, c: {} } });
    expect(desiredSince(first, d2, NOW + 5000)).toEqual({ 'n1/a': '', 'n1/c': iso(5) });
    expect(desiredSince({ 'n1/a': '', 'n1/c': iso(5) }, d1, NOW + 9000)).toEqual({ 'n1/a': '' });
  });
  it('after the grace it is missing and gets its redeploy; an unhealthy one is proposed at once', () => {
    const old = node('chelsty-infra', { first_seen: iso(-61) });
    expect(plan(input({ cfg, world: world([svc('chelsty-infra/mosquitto', 'healthy')], [old]) })).create.map((c) => c.id)).toEqual(['redeploy-chelsty-infra-zigbee2mqtt']);
    const fresh = node('chelsty-infra', { first_seen: iso(-5) });
    expect(plan(input({ cfg, world: world([svc('chelsty-infra/mosquitto', 'unhealthy', 'containers_not_running')], [fresh]) })).create.map((c) => c.id)).toEqual(['container-restart-chelsty-infra-mosquitto']);
  });
});

describe('cooldowns: an operator cancel holds like a rejection', () => {
  it('cancelled_by_operator starts the cooldown; an automatic cancel does not', () => {
    const byOperator = action('container-restart-chelsty-infra-zigbee2mqtt', 'cancelled', { cancel_reason: 'cancelled_by_operator', updated_at: iso(-60) });
    const byItself = action('redeploy-chelsty-infra-mosquitto', 'cancelled', { cancel_reason: 'drift_resolved_auto', updated_at: iso(-60) });
    const c = updateCooldowns({}, [byOperator, byItself], world([]), NOW);
    expect(Object.keys(c)).toEqual(['container-restart-chelsty-infra-zigbee2mqtt']);
    // …so the same drift is not proposed again 16 ms later.
    const p = plan(input({ cooldowns: c, world: world([svc('chelsty-infra/zigbee2mqtt', 'unhealthy', 'containers_not_running'), svc('chelsty-infra/mosquitto', 'healthy')]) }));
    expect(p.create).toEqual([]);
  });
});
