// A stop during an action says what it waits for, and a restart interrupted half-way (a kill, or
// a grace that ran out) does not leave a container stopped that ran before it.
import type Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Executor } from '../../../src/loops/executor.js';
import { ActionStore } from '../../../src/store/actions.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger, removeDir, tempDir, waitFor } from '../../support/helpers.js';

const T0 = Date.parse('2026-05-27T14:00:00.000Z');
let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-executor-stop-');
});
afterEach(async () => {
  await removeDir(dir);
});

const desired = { n1: { node: 'n1', docker: { socket: '/x.sock' }, services: { app: { node: 'n1', service: 'app', containers: ['app'], monitor: true, auto_approve: false } } } };

/** One container `app`: its state, and a restart that stops it and then never comes back. */
function engine() {
  const st = { running: true, starts: 0 };
  const docker = {
    getContainer: () => ({
      inspect: async () => ({ Id: 'a'.repeat(64), Name: '/app', State: { Status: st.running ? 'running' : 'exited', Running: st.running, Restarting: false, StartedAt: 'x' }, Config: {} }),
      restart: () => {
        st.running = false; // stopped; the start never happens
        return new Promise(() => {});
      },
      start: async () => {
        st.starts++;
        st.running = true;
      },
    }),
  } as unknown as Docker;
  return { st, docker };
}

async function approvedRestart(store: ActionStore): Promise<void> {
  await store.ensureDirs();
  await store.create({ id: 'container-restart-n1-app', instance: '20260527T140000Z', type: 'container_restart', risk: 'low', node: 'n1', service: 'app', drift: 'unhealthy_service', trigger: 'mqtt_unreachable', containers: ['app'], drift_since: null });
  await store.transition({ id: 'container-restart-n1-app', from: 'pending', to: 'approved', by: 'test' });
}

describe('Executor stop and interrupted restarts', () => {
  it('stop says what it waits for every 2 s, and the action\'s message can say it; the grace runs out: recorded, the container started again at the next start', async () => {
    const clock = new FakeClock(T0);
    const store = new ActionStore(`${dir}/actions`, () => clock.now());
    await approvedRestart(store);
    const { st, docker } = engine();
    const mem = memoryLogger();
    const interruptedFile = `${dir}/interrupted.json`;
    const changed: string[] = [];
    const ex = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: mem.log, now: () => clock.now(), actionTimeoutS: 300, verifyAfterS: 60, engine: () => docker, clock, interruptedFile, onChange: (a) => changed.push(a.state) });
    await ex.pass();
    await waitFor(async () => JSON.parse(await readFile(interruptedFile, 'utf8').catch(() => '[]')).length === 1, { what: 'the restart noted before it began' });
    // The note is written before the restart call: on a loaded machine the call may come a moment later.
    await waitFor(() => !st.running, { what: 'the restart under way (the container stopped)' });
    const a = (await store.list('running'))[0]!;
    expect(ex.stoppingFor(a)).toBeUndefined();
    const stop = ex.stop(25_000);
    // At once: a line, the message's hint, and the action re-rendered.
    expect(mem.lines.filter((l) => /^stopping: waiting for container-restart-n1-app \(container_restart on n1: the first Docker step of container_restart\), 0 s of SHUTDOWN_GRACE_S 25 s$/.test(String(l.msg)))).toHaveLength(1);
    expect(ex.stoppingFor(a)).toMatchObject({ waitingFor: 'the first Docker step of container_restart', graceS: 25 });
    expect(changed).toContain('running');
    expect(ex.waitedAtStop).toBe(true);
    for (let i = 1; i <= 12; i++) await clock.advance(2000);
    expect(mem.lines.filter((l) => /^stopping: waiting for container-restart-n1-app/.test(String(l.msg))).map((l) => l.elapsed_s)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]);
    await clock.advance(1000);
    await stop;
    expect((await store.list('failed'))[0]!.error).toMatch(/^interrupted: /);
    expect(JSON.parse(await readFile(interruptedFile, 'utf8'))).toEqual([{ id: 'container-restart-n1-app', instance: '20260527T140000Z', node: 'n1', containers: ['app'], restart: true }]);

    // The next start: the container that ran before is started again, and the action says so.
    const next = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: () => clock.now(), actionTimeoutS: 300, verifyAfterS: 60, engine: () => docker, clock, interruptedFile });
    await next.init();
    await next.pass();
    await next.idle();
    expect(st.starts).toBe(1);
    const failed = (await store.list('failed'))[0]!;
    expect(failed.recovery?.done).toEqual(['started app again: it ran before the interrupted restart and was exited']);
    expect(JSON.parse(await readFile(interruptedFile, 'utf8'))).toEqual([]);
  });

  it('a kill half-way (the process gone, the action left in running/): the next start starts the container that ran before', async () => {
    const clock = new FakeClock(T0);
    const store = new ActionStore(`${dir}/actions`, () => clock.now());
    await approvedRestart(store);
    const { st, docker } = engine();
    const interruptedFile = `${dir}/interrupted.json`;
    const killed = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: () => clock.now(), actionTimeoutS: 300, verifyAfterS: 60, engine: () => docker, clock, interruptedFile });
    await killed.pass();
    await waitFor(async () => JSON.parse(await readFile(interruptedFile, 'utf8').catch(() => '[]')).length === 1, { what: 'the restart noted before it began' });
    await waitFor(() => !st.running, { what: 'the restart under way (the container stopped)' });
    // Killed here: nothing more of that executor runs.
    const next = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: () => clock.now(), actionTimeoutS: 300, verifyAfterS: 60, engine: () => docker, clock, interruptedFile });
    await next.init();
    await next.pass();
    await next.idle();
    expect(st.starts).toBe(1);
    expect(st.running).toBe(true);
    const failed = (await store.list('failed'))[0]!;
    expect(failed.error).toBe('interrupted');
    expect(failed.recovery?.done).toEqual(['started app again: it ran before the interrupted restart and was exited']);
  });

  it('a restart whose target was stopped before is not started by recovery (it is proposed again as before); a finished restart leaves nothing behind', async () => {
    const clock = new FakeClock(T0);
    const store = new ActionStore(`${dir}/actions`, () => clock.now());
    await approvedRestart(store);
    const { st, docker } = engine();
    st.running = false;
    const interruptedFile = `${dir}/interrupted.json`;
    const killed = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: () => clock.now(), actionTimeoutS: 300, verifyAfterS: 60, engine: () => docker, clock, interruptedFile });
    await killed.pass();
    await waitFor(async () => (await store.list('running')).length === 1);
    const next = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: () => clock.now(), actionTimeoutS: 300, verifyAfterS: 60, engine: () => docker, clock, interruptedFile });
    await next.init();
    await next.pass();
    await next.idle();
    expect(st.starts).toBe(0);
    expect(JSON.parse(await readFile(interruptedFile, 'utf8').catch(() => '[]'))).toEqual([]);
  });
});
