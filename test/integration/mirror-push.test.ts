import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { httpSender, PushSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { Mirror } from '../../src/mirror/mirror.js';
import { FakeClock } from '../../src/time/clock.js';
import { apiFixture, type ApiFixture } from '../support/api-fixture.js';
import { memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

let root: string;
beforeEach(async () => {
  root = await tempDir('hcp-mirror-');
});
afterEach(async () => {
  await removeDir(root);
});

describe('control-plane mirror', () => {
  let f: ApiFixture;
  afterEach(async () => {
    await f?.app.close().catch(() => {});
  });

  it('copies the world, uses 304, keeps the last good copy when the source is down or answers garbage', async () => {
    f = await apiFixture(path.join(root, 'source'), { hostile: false });
    const base = await f.app.listen({ host: '127.0.0.1', port: 0 });
    const to = path.join(root, 'mirror');
    const mem = memoryLogger();
    const m = new Mirror(base, to, mem.log);
    expect((await m.once()).map((r) => r.outcome)).toEqual(['updated', 'updated']);
    expect(await readFile(path.join(to, 'services.json'), 'utf8')).toBe(await readFile(f.l.worldServices, 'utf8'));
    expect(await readFile(path.join(to, 'nodes.json'), 'utf8')).toBe(await readFile(f.l.worldNodes, 'utf8'));
    expect((await m.once()).map((r) => r.outcome)).toEqual(['not_modified', 'not_modified']);
    const good = await readFile(path.join(to, 'services.json'), 'utf8');

    await f.app.close();
    let r = await m.once();
    expect(r.map((x) => x.outcome)).toEqual(['failed', 'failed']);
    expect(r[0]!.error).toMatch(/ECONNREFUSED/);
    await m.once();
    expect(mem.lines.filter((l) => /mirror of services.json failing/.test(String(l.msg)))).toHaveLength(1);
    expect(await readFile(path.join(to, 'services.json'), 'utf8')).toBe(good);

    // A source that answers garbage: not JSON, then JSON that is not a world file.
    let body = 'garbage';
    const bad = http.createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => bad.listen(0, '127.0.0.1', () => resolve()));
    const m2 = new Mirror(`http://127.0.0.1:${(bad.address() as AddressInfo).port}`, to, mem.log);
    r = await m2.once();
    expect(r[0]).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/not JSON/) });
    body = '{"x/y":{"status":"weird"}}';
    r = await m2.once();
    expect(r[0]).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/not a world file/) });
    expect(await readFile(path.join(to, 'services.json'), 'utf8')).toBe(good);
    expect((await readdir(to)).filter((n) => n.startsWith('.'))).toEqual([]);
    bad.close();
  });
});

describe('agent push mode', () => {
  let running: Running | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  it('spools while the control plane is down, then delivers every event once, in order', async () => {
    const hosts = path.join(root, 'hosts');
    const home = path.join(root, 'homelab');
    await writeHosts(hosts, { pushnode: 'services: {}\n' });
    const token = 'pushnode-token-0123456789';
    const cfg = (port: string) => loadConfig({ PORT: port, HOMELAB_ROOT: home, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600', INGEST_TOKENS: `pushnode=${token}` });
    running = await startControlPlane(cfg('0'), memoryLogger().log);
    const port = String(new URL(running.address).port);
    const log = memoryLogger();
    const sink = new PushSink(httpSender(`${running.address}/ingest/events`, token), path.join(root, 'agent', 'spool'), log.log);
    // The agent's own time: each pass below is a minute after the last, so each has a heartbeat.
    const clock = new FakeClock(Date.now());
    const agent = new Agent({
      clock,
      node: 'pushnode',
      desired: () => ({ node: 'pushnode', docker: {}, services: {} }),
      docker: {} as never,
      sink,
      stateDir: path.join(root, 'agent'),
      log: log.log,
      intervalMs: 60_000,
      diskPaths: ['/'],
    });
    await agent.init();
    await agent.pass();
    expect(await sink.spooled()).toEqual([]);

    await running.stop();
    running = undefined;
    for (let i = 0; i < 5; i++) {
      await clock.advance(60_000);
      await agent.pass();
    }
    const waiting = await sink.spooled();
    expect(waiting.length).toBeGreaterThanOrEqual(5);

    running = await startControlPlane(cfg(port), memoryLogger().log);
    await sink.drain();
    await waitFor(async () => (await sink.spooled()).length === 0, { what: 'spool drained' });
    await sink.stop();
    // Every day's file, oldest first: a run across midnight UTC writes two.
    const days = (await readdir(path.join(home, 'events'))).filter((d) => /^\d{4}-\d{2}-\d{2}$/.test(d)).sort();
    const text = (await Promise.all(days.map((d) => readFile(path.join(home, 'events', d, 'pushnode.jsonl'), 'utf8').catch(() => '')))).join('');
    const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const seqs = lines.map((e: { seq: number }) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(lines.length).toBe(agent.stats.emitted);
    await running.loops.observer.runNow();
    expect(running.observer.current().nodes.pushnode?.agent).toBe('alive');
  });
});
