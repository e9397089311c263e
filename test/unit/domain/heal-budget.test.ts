// The restart budget: counting heals per service, the backoff between them, the reset after a
// healthy stretch, and what the plan makes of it (an escalation past the budget).
import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { budgetOf, updateHealBudgets, type HealBudgets } from '../../../src/domain/heal-budget.js';
import { plan, type PlanInput } from '../../../src/domain/plan.js';
import { DEFAULT_HEAL, type HealPolicy, type World } from '../../../src/domain/schemas.js';
import { parseDesiredText } from '../../../src/store/desired.js';
import { desiredState } from '../../support/desired.js';
import { FakeClock } from '../../../src/time/clock.js';

const T0 = Date.parse('2026-05-27T15:00:00.000Z');
const policy: HealPolicy = { attempts: 2, withinMs: 3_600_000, backoffMs: 2_000, maxBackoffMs: 10_000, resetAfterMs: 60_000 };

function heal(n: number, at: number, state: 'completed' | 'failed' | 'rejected' = 'completed', type: Action['type'] = 'container_restart'): Action {
  const iso = new Date(at).toISOString();
  return { id: `container-restart-nas-app`, instance: `20260527T15000${n}Z`, type, risk: 'low', node: 'nas', service: 'app', drift: 'unhealthy_service', trigger: 'containers_not_running', state, created_at: iso, updated_at: iso, started_at: state === 'rejected' ? undefined : iso, finished_at: iso, history: [], ...(state === 'failed' ? { error: 'app exited with code 1' } : {}) };
}
function world(status: 'healthy' | 'unhealthy', since: number): World {
  const s = new Date(since).toISOString();
  return { services: { 'nas/app': { node: 'nas', service: 'app', status, reason: status === 'healthy' ? null : 'containers_not_running', since: s, last_event_at: s, last_healthy_at: null, last_incident: null, changes: [] } }, nodes: { nas: { node: 'nas', last_seen: s, last_event_type: 'node_heartbeat', disk_pressure: 'normal', disk_used_pct: 40, disk_updated_at: s, events_applied: 1, events_unknown: 0, agent: 'alive' } } };
}

describe('counting heals', () => {
  it('counts restarts and redeploys carried out (completed or failed), once each, not rejections; keeps what the inspector found', () => {
    let b: HealBudgets = {};
    b = updateHealBudgets(b, [heal(1, T0), heal(2, T0 + 5000, 'rejected')], world('unhealthy', T0), () => policy, T0 + 6000, () => ['exit 1 · 3 restarts']);
    b = updateHealBudgets(b, [heal(1, T0), heal(3, T0 + 9000, 'failed', 'redeploy')], world('unhealthy', T0), () => policy, T0 + 10_000);
    expect(b['nas/app']!.heals.map((h) => [h.instance, h.outcome, h.facts ?? null, h.error ?? null])).toEqual([
      ['20260527T150001Z', 'completed', ['exit 1 · 3 restarts'], null],
      ['20260527T150003Z', 'failed', null, 'app exited with code 1'],
    ]);
  });

  it('backoff doubles to its cap; past `attempts` the budget is spent; `within` forgets old heals', async () => {
    const clock = new FakeClock(T0);
    const rec = { heals: [] as HealBudgets[string]['heals'] };
    const add = (at: number) => rec.heals.push({ id: 'x', instance: String(at), type: 'container_restart', at: new Date(at).toISOString(), outcome: 'completed' });
    const five = { ...policy, attempts: 5 };
    add(clock.now());
    expect(budgetOf(rec, five, clock.now())).toMatchObject({ used: 1, remaining: 4, nextAt: T0 + 2000, spent: false });
    await clock.advance(3000);
    add(clock.now());
    expect(budgetOf(rec, five, clock.now()).nextAt).toBe(clock.now() + 4000);
    await clock.advance(5000);
    add(clock.now());
    expect(budgetOf(rec, five, clock.now()).nextAt).toBe(clock.now() + 8000);
    await clock.advance(9000);
    add(clock.now());
    // 16 s capped at max_backoff 10 s.
    expect(budgetOf(rec, five, clock.now()).nextAt).toBe(clock.now() + 10_000);
    expect(budgetOf(rec, policy, clock.now())).toMatchObject({ used: 4, remaining: 0, spent: true });
    await clock.advance(3_600_000);
    expect(budgetOf(rec, policy, clock.now())).toMatchObject({ used: 0, spent: false, nextAt: 0 });
    expect(budgetOf(rec, { ...policy, withinMs: null }, clock.now()).used).toBe(4);
  });

  it('healthy for reset_after after the last heal resets it; healthy for less does not', () => {
    const b = updateHealBudgets({}, [heal(1, T0)], world('unhealthy', T0), () => policy, T0 + 1000);
    expect(updateHealBudgets(b, [], world('healthy', T0 + 2000), () => policy, T0 + 30_000)['nas/app']?.heals).toHaveLength(1);
    expect(updateHealBudgets(b, [], world('healthy', T0 + 2000), () => policy, T0 + 62_000)['nas/app']).toBeUndefined();
    // Healthy since before the heal counts from the heal.
    expect(updateHealBudgets(b, [], world('healthy', T0 - 100_000), () => policy, T0 + 30_000)['nas/app']?.heals).toHaveLength(1);
  });
});

describe('the plan and the budget', () => {
  const input = (heals: HealBudgets, now: number, over: Partial<PlanInput> = {}): PlanInput => ({
    desired: desiredState({ nas: { app: { auto_approve: true, heal: policy } } }),
    world: world('unhealthy', T0),
    open: [],
    cooldowns: {},
    silences: [],
    held: {},
    desiredProblems: [],
    now,
    heals,
    ...over,
  });
  const one = updateHealBudgets({}, [heal(1, T0)], world('unhealthy', T0), () => policy, T0, () => ['exit 1']);
  const two = updateHealBudgets(one, [heal(2, T0 + 3000, 'failed')], world('unhealthy', T0), () => policy, T0 + 3000);

  it('under the budget: nothing before the backoff, then a proposal that says how much is used', () => {
    expect(plan(input(one, T0 + 1000)).create).toEqual([]);
    expect(plan(input(one, T0 + 2000)).create[0]).toMatchObject({ id: 'container-restart-nas-app', budget: { used: 1, attempts: 2, escalation: false, heals: [] } });
  });

  it('spent: an escalation at once (no backoff), listing each heal with what it found', () => {
    const d = plan(input(two, T0 + 3001)).create[0]!;
    expect(d.budget).toMatchObject({ used: 2, attempts: 2, escalation: true });
    expect(d.budget!.heals.map((h) => [h.outcome, h.facts ?? h.error])).toEqual([
      ['completed', ['exit 1']],
      ['failed', 'app exited with code 1'],
    ]);
  });

  it('a rejected proposal holds for the backoff of its count, as a cooldown did', () => {
    const cooldowns = { 'container-restart-nas-app': { node: 'nas', service: 'app', type: 'container_restart' as const, count: 1, last_at: new Date(T0).toISOString(), last_outcome: 'rejected' } };
    expect(plan(input({}, T0 + 1000, { cooldowns })).create).toEqual([]);
    expect(plan(input({}, T0 + 2500, { cooldowns })).create).toHaveLength(1);
  });

  it('services.yaml: heal per service over the node default over the built-in one; bad values refused with their line', () => {
    const r = parseDesiredText('nas', 'hosts/nas/services.yaml', 'docker:\n  heal: { attempts: 5, backoff: 1m }\nservices:\n  app:\n    heal: { backoff: 2s, within: 1h }\n  db: {}\n');
    expect(r.ok && r.value.services.app!.heal).toEqual({ attempts: 5, withinMs: 3_600_000, backoffMs: 2000, maxBackoffMs: DEFAULT_HEAL.maxBackoffMs, resetAfterMs: DEFAULT_HEAL.resetAfterMs });
    expect(r.ok && r.value.services.db!.heal).toEqual({ ...DEFAULT_HEAL, attempts: 5, backoffMs: 60_000 });
    const bad = parseDesiredText('nas', 'hosts/nas/services.yaml', 'services:\n  app:\n    heal:\n      attempts: 0\n      backoff: soon\n');
    expect(bad.ok ? [] : bad.problems.map((p) => `${p.line}: ${p.reason}`)).toEqual(['4: services.app.heal.attempts: must be at least 1', '5: services.app.heal.backoff: must be a duration such as 90s, 10m, 2h or 1d (at most a year)']);
  });
});
