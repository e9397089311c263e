// A step of the wall clock seen by the supervisor (FakeClock.jump, each way): said once, and no
// flood of silent-node notices while the agents have not reported on the new time yet.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { World } from '../../../src/domain/schemas.js';
import { Supervisor } from '../../../src/loops/supervisor.js';
import { ActionStore } from '../../../src/store/actions.js';
import { SupervisorState } from '../../../src/store/supervisor-state.js';
import { FakeClock } from '../../../src/time/clock.js';
import { desiredState } from '../../support/desired.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-step-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('the supervisor and a step of the wall clock', () => {
  it.each([3_600_000, -3_600_000])('a step of %i ms: said once; no silent-node notices for 2 minutes after it', async (step) => {
    const clock = new FakeClock();
    const mem = memoryLogger();
    const actions = new ActionStore(path.join(dir, 'actions'), () => clock.now());
    await actions.ensureDirs();
    const state = new SupervisorState(path.join(dir, 'state'));
    await state.ensureDirs();
    const desired = desiredState({ a: { web: {} }, b: { db: {} } });
    // Node a is alive before the step, node b silent already (its notice open): after the step the
    // world reads both as silent until the agents report on the new time.
    const node = (n: string, agent: 'alive' | 'silent') => ({ node: n, last_seen: new Date(clock.now() - (agent === 'alive' ? 5000 : 3 * 3_600_000)).toISOString(), last_event_type: 'node_heartbeat', disk_pressure: 'normal' as const, disk_used_pct: 1, disk_updated_at: null, events_applied: 1, events_unknown: 0, agent });
    let world: World = { services: {}, nodes: { a: node('a', 'alive'), b: node('b', 'silent') } };
    const silentWorld = (): World => ({ services: {}, nodes: { a: node('a', 'silent'), b: node('b', 'silent') } });
    const sup = new Supervisor({ actions, state, log: mem.log, now: () => clock.now(), monotonic: () => clock.monotonic(), world: () => world, desired: () => desired, desiredProblems: () => [] });
    expect((await sup.pass()).notices.opened).toEqual(['node-silent-b']);
    await clock.advance(30_000);
    clock.jump(step);
    world = silentWorld();
    const after = await sup.pass();
    // Nothing opened, and b's notice not closed ("resolved" it is not).
    expect(after.notices).toMatchObject({ opened: [], closed: [] });
    expect(mem.lines.filter((l) => /the wall clock stepped by/.test(String(l.msg)))).toHaveLength(1);
    await clock.advance(60_000);
    await sup.pass();
    expect(mem.lines.filter((l) => /the wall clock stepped by/.test(String(l.msg)))).toHaveLength(1);
    await clock.advance(61_000);
    expect((await sup.pass()).notices.opened).toEqual(['node-silent-a']);
  });
});
