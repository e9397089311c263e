// The other users of the Clock, on a fake one: the agent's interval and reconnects, the push
// sink's backoff, the executor's deadline and shutdown grace. Nothing waits for real time.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, type AgentEvent } from '../../../src/agent/agent.js';
import { httpSender, PushSink } from '../../../src/agent/sinks.js';
import { Executor } from '../../../src/loops/executor.js';
import { ActionStore } from '../../../src/store/actions.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger, removeDir, tempDir, waitFor } from '../../support/helpers.js';

const T0 = Date.parse('2026-05-27T14:00:00.000Z');
let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-clock-users-');
});
afterEach(async () => {
  await removeDir(dir);
});

/** An agent for one watched container `app` on a fake clock; `inspect` says what the engine says of it. */
function agentOn(clock: FakeClock, inspect: () => object, intervalMs: number, write: (e: AgentEvent[]) => void) {
  const streams: PassThrough[] = [];
  const docker = {
    getContainer: () => ({ inspect: async () => inspect() }),
    getEvents: async () => {
      const s = new PassThrough();
      streams.push(s);
      return s;
    },
    ping: async () => 'OK',
  } as unknown as Docker;
  const agent = new Agent({
    node: 'n1',
    desired: () => ({ node: 'n1', docker: {}, services: { app: { node: 'n1', service: 'app', containers: ['app'], monitor: true, auto_approve: false } } }),
    docker,
    sink: { write: async (e) => void write(e) },
    stateDir: dir,
    log: memoryLogger().log,
    intervalMs,
    diskPaths: [],
    clock,
  });
  return { agent, streams };
}

describe('Agent', () => {
  it('inspects at start, every interval, at once on an engine event, and reconnects the event stream after a backoff', async () => {
    const clock = new FakeClock(T0);
    const written: AgentEvent[][] = [];
    const { agent, streams } = agentOn(clock, () => ({ State: { Status: 'running', Running: true, Restarting: false }, Config: {} }), 30_000, (e) => written.push(e));
    await agent.init();
    await agent.start();
    await waitFor(() => streams.length === 1);
    const passes = () => agent.stats.passes;
    const beats = () => written.filter((w) => w.some((e) => e.type === 'node_heartbeat')).length;
    // start() inspects once, and the loop's start asks for one more at once: then it waits.
    await waitFor(() => passes() >= 2 && clock.pending > 0, { what: 'the loop waiting on the clock' });
    const first = passes();
    expect(written[0]!.map((e) => e.type)).toEqual(['service_healthy', 'node_heartbeat']);
    streams[0]!.write('{"status":"die"}\n');
    await waitFor(() => passes() === first + 1, { what: 'a pass on the engine event' });
    // Nothing changed and the interval has not passed: that pass wrote nothing, not even a heartbeat.
    expect(written).toHaveLength(1);
    await clock.advance(30_000);
    await waitFor(() => passes() === first + 2, { what: 'a pass on the interval' });
    await waitFor(() => beats() === 2, { what: 'the heartbeat of the interval' });
    // The stream ends (dockerd restarted): a new one is opened after 250–750 ms, not before.
    streams[0]!.end();
    await clock.advance(249);
    expect(streams).toHaveLength(1);
    await clock.advance(501);
    await waitFor(() => streams.length === 2, { what: 'the event stream reopened' });
    await agent.stop();
  });
});

describe('PushSink', () => {
  it('retries after 1 s, 2 s, 4 s (±25 %) while the control plane is away, then drains', async () => {
    const clock = new FakeClock(T0);
    const tries: number[] = [];
    let up = false;
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async () => {
      tries.push(clock.now() - T0);
      if (!up) throw new TypeError('fetch failed');
      return new Response('{}', { status: 200 });
    }) as typeof fetch;
    try {
      const sink = new PushSink(httpSender('http://127.0.0.1:1/ingest/events', 'token-0123456789abcdef'), `${dir}/spool`, memoryLogger().log, clock);
      await sink.write([{ ts: new Date(T0).toISOString(), node: 'n1', type: 'node_heartbeat', seq: 1 }]);
      expect(tries).toEqual([0]);
      for (const n of [1, 2, 3]) {
        await waitFor(() => clock.pending === 1);
        await clock.set(clock.nextAt!);
        await waitFor(() => tries.length === n + 1);
      }
      const gaps = tries.slice(1).map((t, i) => t - tries[i]!);
      expect(gaps[0]).toBeGreaterThanOrEqual(750);
      expect(gaps[0]).toBeLessThanOrEqual(1250);
      expect(gaps[1]).toBeGreaterThanOrEqual(1500);
      expect(gaps[1]).toBeLessThanOrEqual(2500);
      expect(gaps[2]).toBeGreaterThanOrEqual(3000);
      expect(gaps[2]).toBeLessThanOrEqual(5000);
      up = true;
      await waitFor(() => clock.pending === 1);
      await clock.set(clock.nextAt!);
      await waitFor(async () => (await sink.spooled()).length === 0, { what: 'the spool drained' });
      await sink.stop();
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});

describe('Executor', () => {
  const hanging = { getContainer: () => ({ inspect: () => new Promise(() => {}) }) } as unknown as Docker;
  const desired = { n1: { node: 'n1', docker: { socket: '/x.sock' }, services: { app: { node: 'n1', service: 'app', containers: ['app'], monitor: true, auto_approve: false } } } };

  /** An approved restart taken by an executor whose engine never answers: running, on the fake clock. */
  async function runningOnHangingEngine(actionTimeoutS: number) {
    const clock = new FakeClock(T0);
    const store = new ActionStore(`${dir}/actions`, () => clock.now());
    await store.ensureDirs();
    await store.create({ id: 'container-restart-n1-app', instance: '20260527T140000Z', type: 'container_restart', risk: 'low', node: 'n1', service: 'app', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: ['app'], drift_since: null });
    await store.transition({ id: 'container-restart-n1-app', from: 'pending', to: 'approved', by: 'test' });
    const ex = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: () => clock.now(), actionTimeoutS, verifyAfterS: 60, engine: () => hanging, clock });
    await ex.pass();
    await waitFor(async () => (await store.list('running')).length === 1);
    // The file is in running/ a moment before the claim returns and the deadline is armed (in the
    // same step as `started` counts it): only then may the clock move.
    await waitFor(() => ex.stats.started === 1, { what: 'the claim returned and the deadline armed' });
    return { clock, store, ex };
  }

  it('an engine that never answers fails the action at ACTION_TIMEOUT_S (+1 s), on the clock', async () => {
    const { clock, store } = await runningOnHangingEngine(5);
    await clock.advance(5999);
    expect(await store.list('failed')).toEqual([]);
    await clock.advance(1);
    const [failed] = await waitFor(async () => {
      const f = await store.list('failed');
      return f.length ? f : undefined;
    });
    expect(failed!.error).toBe("timed out after 5 s (ACTION_TIMEOUT_S); check n1's Docker Engine");
  });

  it('stop(grace): an action still under way when the grace runs out is recorded interrupted', async () => {
    const { clock, store, ex } = await runningOnHangingEngine(300);
    let stopped = false;
    const stop = ex.stop(25_000).then(() => (stopped = true));
    await clock.advance(24_999);
    expect(stopped).toBe(false);
    await clock.advance(1);
    await stop;
    const [failed] = await store.list('failed');
    expect(failed!.error).toMatch(/^interrupted: the control plane stopped and SHUTDOWN_GRACE_S \(25 s\) ran out; done so far: no step finished$/);
  });

  it('stop(grace): a claim still landing when the grace runs out is recorded interrupted, and nothing is started', async () => {
    const clock = new FakeClock(T0);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The claim of approved → running lands only when the test says so (a slow disk).
    class SlowClaims extends ActionStore {
      override async transition(req: Parameters<ActionStore['transition']>[0]) {
        if (req.to === 'running') await gate;
        return super.transition(req);
      }
    }
    const store = new SlowClaims(`${dir}/actions`, () => clock.now());
    await store.ensureDirs();
    await store.create({ id: 'container-restart-n1-app', instance: '20260527T140000Z', type: 'container_restart', risk: 'low', node: 'n1', service: 'app', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: ['app'], drift_since: null });
    await store.transition({ id: 'container-restart-n1-app', from: 'pending', to: 'approved', by: 'test' });
    let engineCalls = 0;
    const counting = { getContainer: () => ({ inspect: () => (engineCalls++, new Promise(() => {})) }) } as unknown as Docker;
    const ex = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: () => clock.now(), actionTimeoutS: 300, verifyAfterS: 60, engine: () => counting, clock });
    await ex.pass();
    const stop = ex.stop(25_000);
    await clock.advance(25_000);
    release();
    await stop;
    const [failed] = await store.list('failed');
    expect(failed?.error).toBe('interrupted: the control plane stopped and SHUTDOWN_GRACE_S (25 s) ran out; done so far: no step finished');
    expect(await store.list('running')).toEqual([]);
    expect(engineCalls).toBe(0);
  });

  it('writes what changed: execs and other containers start no pass; a heartbeat per interval; new containers reported once they settle', async () => {
    const clock = new FakeClock(T0);
    let app = { Id: 'a1', StartedAt: '2026-05-27T13:00:00Z', Running: true };
    const written: AgentEvent[] = [];
    const { agent, streams } = agentOn(clock, () => ({ Id: app.Id, Name: '/app', State: { Status: app.Running ? 'running' : 'exited', Running: app.Running, Restarting: false, StartedAt: app.StartedAt }, Config: {} }), 10_000, (e) => written.push(...e));
    await agent.init();
    await agent.start();
    await waitFor(() => streams.length === 1 && agent.stats.passes >= 2 && clock.pending > 0, { what: 'the loop waiting on the clock' });
    const passes = agent.stats.passes;
    // An hour of a 1 s health check of another container (exec_create/start/die, health_status)
    // and of execs into the watched one: no pass at all.
    const other = (action: string, name: string) => JSON.stringify({ Type: 'container', Action: action, Actor: { ID: 'x', Attributes: { name } } });
    for (let i = 0; i < 60; i++) {
      streams[0]!.write(`${other('exec_create: curl -f localhost', 'grafana')}\n${other('exec_start: curl -f localhost', 'grafana')}\n${other('exec_die', 'grafana')}\n`);
      streams[0]!.write(`${other('health_status: healthy', 'grafana')}\n${other('exec_start: sh', 'app')}\n`);
    }
    await waitFor(() => agent.ignoredEvents.count === 300, { what: 'the events read' });
    expect(agent.stats.passes).toBe(passes);
    // Almost ten minutes on the clock (the full refresh comes at ten): one heartbeat per interval
    // and nothing else.
    for (let i = 1; i <= 59; i++) {
      await clock.advance(10_000);
      await waitFor(() => agent.stats.passes >= passes + i, { what: `pass ${i}` });
    }
    await waitFor(() => written.filter((e) => e.type === 'node_heartbeat').length === 60, { what: '60 heartbeats' });
    expect(written.filter((e) => e.type !== 'node_heartbeat').map((e) => e.type)).toEqual(['service_healthy']);
    // The container is recreated (an update): an event about it starts a pass, and the new
    // container is reported healthy again although the verdict did not change.
    app = { Id: 'a2', StartedAt: '2026-05-27T15:00:05Z', Running: true };
    streams[0]!.write(`${other('start', 'app')}\n`);
    await waitFor(() => written.filter((e) => e.type === 'service_healthy').length === 2, { what: 'the new container reported' });
    await agent.stop();
  }, 60_000);
});
