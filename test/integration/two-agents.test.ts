// Two agents for one node (a running one and an `agent --once`, or two running by mistake) write
// into the same events file with the same state directory. Every event of each is heard; two
// running at once are named once; real duplicates are logged with counts.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { httpSender, LocalSink, PushSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config.js';
import { Observer } from '../../src/loops/observer.js';
import { ensureLayout, layout, type Layout } from '../../src/store/paths.js';
import { FakeClock } from '../../src/time/clock.js';
import { memoryLogger, removeDir, tempDir } from '../support/helpers.js';

const T0 = Date.parse('2026-05-27T14:00:00.000Z');
let root: string;
let l: Layout;

beforeEach(async () => {
  root = await tempDir('hcp-two-agents-');
  l = layout(path.join(root, 'homelab'));
  await ensureLayout(l);
});
afterEach(async () => {
  await removeDir(root);
});

/** A Docker Engine whose one container runs or not, as the test says. */
function engine(state: { running: boolean }): Docker {
  return {
    getContainer: () => ({ inspect: async () => ({ Name: '/z2m', State: { Status: state.running ? 'running' : 'exited', Running: state.running, Restarting: false }, Config: {} }) }),
    getEvents: async () => new (await import('node:stream')).PassThrough(),
    ping: async () => 'OK',
  } as unknown as Docker;
}

const desiredNode = { node: 'piha', docker: { socket: '/var/run/docker.sock' }, services: { z2m: { node: 'piha', service: 'z2m', containers: ['z2m'], monitor: true, auto_approve: false, updates: 'off' as const } } };

describe('two agents for one node', () => {
  it('an --once run with the same state dir does not hide the running agent\'s later events; nothing counts as a duplicate', async () => {
    const clock = new FakeClock(T0);
    const state = { running: true };
    const stateDir = path.join(root, 'agent-state');
    const mk = (once: boolean) =>
      new Agent({ node: 'piha', desired: () => desiredNode, docker: engine(state), sink: new LocalSink(l.events, 'piha'), stateDir, log: memoryLogger().log, intervalMs: 30_000, diskPaths: [], clock, once });
    const running = mk(false);
    await running.init();
    await running.pass();
    await clock.advance(5_000);
    const once = mk(true);
    await once.init();
    await once.pass();
    expect(once.instance).not.toBe(running.instance);
    await clock.advance(25_000);
    state.running = false;
    await running.pass();

    const cfg = loadConfig({ HOMELAB_ROOT: l.root, HOSTS_DIR: path.join(root, 'hosts') });
    const mem = memoryLogger();
    const observer = new Observer({ layout: l, config: cfg, log: mem.log, now: () => clock.now(), clock, desired: () => ({ piha: desiredNode }) });
    await observer.init();
    await observer.pass();
    expect(observer.current().services['piha/z2m']).toMatchObject({ status: 'unhealthy', reason: 'containers_not_running' });
    expect(observer.counters().duplicate).toBe(0);
    // The --once heartbeat says so, and never makes two agents.
    const lines = (await readFile(path.join(l.events, '2026-05-27', 'piha.jsonl'), 'utf8')).trim().split('\n').map((x) => JSON.parse(x));
    expect(lines.filter((e) => e.type === 'node_heartbeat').map((e) => e.detail)).toEqual([
      { engine: 'ok', interval_s: 30 },
      { engine: 'ok', once: true },
      { engine: 'ok', interval_s: 30 },
    ]);
    expect(new Set(lines.map((e) => e.agent))).toEqual(new Set([running.instance, once.instance]));
    expect(observer.current().nodes.piha!.agents_running).toBeUndefined();
    await observer.flush();
  });

  it('two running agents: named once in the log and the world, both streams kept; real duplicates logged with counts', async () => {
    const clock = new FakeClock(T0);
    const state = { running: true };
    const mk = (dir: string) =>
      new Agent({ node: 'piha', desired: () => desiredNode, docker: engine(state), sink: new LocalSink(l.events, 'piha'), stateDir: path.join(root, dir), log: memoryLogger().log, intervalMs: 30_000, diskPaths: [], clock });
    const a = mk('a');
    const b = mk('b');
    await a.init();
    await b.init();
    const cfg = loadConfig({ HOMELAB_ROOT: l.root, HOSTS_DIR: path.join(root, 'hosts') });
    const mem = memoryLogger();
    const observer = new Observer({ layout: l, config: cfg, log: mem.log, now: () => clock.now(), clock, desired: () => ({ piha: desiredNode }) });
    await observer.init();
    for (let i = 0; i < 4; i++) {
      await a.pass();
      await clock.advance(10_000);
      await b.pass();
      await clock.advance(20_000);
      await observer.pass();
    }
    expect(observer.current().nodes.piha!.agents_running).toEqual([a.instance, b.instance].sort());
    const said = mem.lines.filter((x) => String(x.msg).startsWith('two agents send heartbeats for piha'));
    expect(said).toHaveLength(1);
    expect(String(said[0]!.msg)).toContain(a.instance);
    expect(String(said[0]!.msg)).toContain(b.instance);
    // Every heartbeat of both was applied.
    expect(observer.current().nodes.piha!.events_applied).toBe(8 + 2);

    // The same lines delivered twice (a push retried after a lost answer): skipped and counted.
    const file = path.join(l.events, '2026-05-27', 'piha.jsonl');
    const again = (await readFile(file, 'utf8')).trim().split('\n').slice(-3);
    await (await import('node:fs/promises')).appendFile(file, again.join('\n') + '\n');
    await observer.pass();
    expect(observer.counters().duplicate).toBe(3);
    const dup = mem.lines.filter((x) => /skipped \d+ duplicate event/.test(String(x.msg)));
    expect(dup).toHaveLength(1);
    expect(dup[0]).toMatchObject({ count: 3, by_node: { piha: 3 } });
    // More within the minute wait for the next line, which carries their count.
    await (await import('node:fs/promises')).appendFile(file, again[0] + '\n');
    await observer.pass();
    expect(observer.counters().duplicate).toBe(4);
    expect(mem.lines.filter((x) => /skipped \d+ duplicate event/.test(String(x.msg)))).toHaveLength(1);
    await clock.advance(60_000);
    await observer.pass();
    const next = mem.lines.filter((x) => /skipped \d+ duplicate event/.test(String(x.msg)));
    expect(next).toHaveLength(2);
    expect(next[1]).toMatchObject({ count: 1, total: 4 });
    await observer.flush();
  });

  it('the spool names the instance: one with the same seq never overwrites another\'s unsent events; older names still drain', async () => {
    const spool = path.join(root, 'spool');
    const sink = new PushSink(httpSender('http://127.0.0.1:9/ingest/events', 't'), spool, memoryLogger().log, new FakeClock(T0));
    const ev = (agent: string) => ({ ts: '2026-05-27T14:00:00.000Z', node: 'piha', type: 'node_heartbeat', seq: 5, agent });
    await sink.write([ev('aaaa1111')]);
    await sink.write([ev('bbbb2222')]);
    await (await import('node:fs/promises')).writeFile(path.join(spool, `${'4'.padStart(20, '0')}.json`), JSON.stringify({ ...ev('x'), agent: undefined, seq: 4 }));
    expect(await sink.spooled()).toEqual([`${'4'.padStart(20, '0')}.json`, `${'5'.padStart(20, '0')}-aaaa1111.json`, `${'5'.padStart(20, '0')}-bbbb2222.json`]);
    await sink.stop();
  });
});
