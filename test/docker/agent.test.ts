// The node agent against the real Docker Engine, and the whole loop end to end.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { LocalSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config.js';
import type { DesiredNode } from '../../src/domain/schemas.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { FakeBotApi } from '../support/bot-api.js';
import { dockerOrSkip, probeDocker, removeLabelled, TEST_IMAGE, TEST_LABEL } from '../support/docker.js';
import { memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'agentnode';
const name = (s: string) => `hcp-${runId}-${s}`;

let root: string;
let docker: Docker;

async function container(n: string, opts: Partial<Docker.ContainerCreateOptions> = {}): Promise<Docker.Container> {
  const c = await docker.createContainer({
    Image: TEST_IMAGE,
    name: n,
    Cmd: ['sleep', '3600'],
    Labels: { [TEST_LABEL]: runId },
    ...opts,
    HostConfig: { Init: true },
  });
  await c.start();
  return c;
}

function desired(services: Record<string, string[]>): DesiredNode {
  return {
    node: NODE,
    docker: { socket: '/var/run/docker.sock' },
    services: Object.fromEntries(Object.entries(services).map(([s, cs]) => [s, { node: NODE, service: s, containers: cs, monitor: true, auto_approve: false }])),
  };
}

async function readEvents(eventsDir: string): Promise<{ type: string; service?: string; seq: number; ts: string }[]> {
  const out = [];
  for (const day of (await readdir(eventsDir).catch(() => [])).sort()) {
    const text = await readFile(path.join(eventsDir, day, `${NODE}.jsonl`), 'utf8').catch(() => '');
    for (const line of text.split('\n').filter(Boolean)) out.push(JSON.parse(line));
  }
  return out;
}

describe.skipIf(!run)('node agent on a real Docker Engine', () => {
  beforeEach(async () => {
    docker = probe.docker!;
    root = await tempDir('hcp-agent-');
  });
  afterEach(async () => {
    await removeLabelled(docker, runId);
    await removeDir(root);
  });

  it('reports healthy, a stop within 2 s, recovery, failing health checks, heartbeats; seq survives a restart', async () => {
    const web = await container(name('web'));
    await container(name('hc'), {
      Cmd: ['sh', '-c', 'touch /tmp/ok; sleep 3600'],
      Healthcheck: { Test: ['CMD', 'test', '-f', '/tmp/ok'], Interval: 300_000_000, Timeout: 1_000_000_000, Retries: 1, StartPeriod: 0 },
    });
    const eventsDir = path.join(root, 'events');
    const stateDir = path.join(root, 'agent');
    const d = desired({ web: [name('web')], hc: [name('hc')] });
    const make = () => new Agent({ node: NODE, desired: () => d, docker, sink: new LocalSink(eventsDir, NODE), stateDir, log: memoryLogger().log, intervalMs: 60_000, diskPaths: ['/'] });
    const agent = make();
    await agent.init();
    await agent.start();
    try {
      await waitFor(async () => (await readEvents(eventsDir)).some((e) => e.type === 'service_healthy' && e.service === 'web'), { what: 'web healthy' });
      await waitFor(async () => (await readEvents(eventsDir)).some((e) => e.type === 'service_healthy' && e.service === 'hc'), { timeoutMs: 15_000, what: 'hc healthy' });
      const first = await readEvents(eventsDir);
      expect(first.some((e) => e.type === 'node_heartbeat')).toBe(true);
      expect(first.some((e) => e.type === 'disk_pressure')).toBe(true);

      const stopped = Date.now();
      await web.stop({ t: 1 });
      await waitFor(async () => (await readEvents(eventsDir)).some((e) => e.type === 'containers_not_running' && e.service === 'web'), { timeoutMs: 5000, what: 'stop noticed' });
      const stopEvent = (await readEvents(eventsDir)).find((e) => e.type === 'containers_not_running')!;
      expect(Date.parse(stopEvent.ts) - stopped).toBeLessThan(2000);

      await web.start();
      await waitFor(async () => (await readEvents(eventsDir)).some((e) => e.type === 'service_recovered' && e.service === 'web'), { what: 'recovered' });

      execFileSync('docker', ['exec', name('hc'), 'rm', '/tmp/ok']);
      await waitFor(async () => (await readEvents(eventsDir)).some((e) => e.type === 'healthcheck_failed' && e.service === 'hc'), { timeoutMs: 15_000, what: 'health check failed' });
    } finally {
      await agent.stop();
    }
    const before = await readEvents(eventsDir);
    const seqs = before.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    const again = make();
    await again.init();
    await again.pass();
    const after = await readEvents(eventsDir);
    expect(after.length).toBeGreaterThan(before.length);
    expect(after.at(-1)!.seq).toBeGreaterThan(Math.max(...seqs));
  }, 90_000);
});

describe.skipIf(!run)('end to end: dockerd, agent, control plane, Telegram', () => {
  let running: Running | undefined;
  let api: FakeBotApi | undefined;
  afterEach(async () => {
    await running?.stop();
    await api?.close();
    await removeLabelled(docker, runId);
    await removeDir(root);
  });
  afterAll(async () => {
    if (docker) await removeLabelled(docker, runId);
  });

  it('a stopped container → Telegram message → Approve → running again → completed and verified', async () => {
    docker = probe.docker!;
    root = await tempDir('hcp-e2e-');
    const token = '987654321:AAE2eTestTokenForTheEndToEndTest_xy';
    api = await new FakeBotApi(token).start();
    const hosts = path.join(root, 'hosts');
    const home = path.join(root, 'homelab');
    const z2m = await container(name('zigbee2mqtt'));
    await writeHosts(hosts, { [NODE]: `docker:\n  socket: /var/run/docker.sock\nservices:\n  zigbee2mqtt:\n    containers: [${name('zigbee2mqtt')}]\n` });
    running = await startControlPlane(
      loadConfig({
        PORT: '0',
        HOMELAB_ROOT: home,
        HOSTS_DIR: hosts,
        RECONCILE_INTERVAL_S: '3600',
        VERIFY_AFTER_S: '60',
        TELEGRAM_BOT_TOKEN: token,
        TELEGRAM_CHAT_ID: '777',
        TELEGRAM_ADMIN_IDS: '42',
        TELEGRAM_API_ROOT: api.url,
      }),
      memoryLogger().log,
    );
    const agent = new Agent({
      node: NODE,
      desired: () => running!.desired.current()[NODE]!,
      docker,
      sink: new LocalSink(path.join(home, 'events'), NODE),
      stateDir: path.join(root, 'agent'),
      log: memoryLogger().log,
      intervalMs: 60_000,
      diskPaths: [],
    });
    await agent.init();
    await agent.start();
    try {
      await waitFor(() => running!.observer.current().services[`${NODE}/zigbee2mqtt`]?.status === 'healthy', { what: 'healthy at first' });
      const id = `container-restart-${NODE}-zigbee2mqtt`;
      const t0 = Date.now();
      await z2m.stop({ t: 1 });
      const msg = await waitFor(() => api!.chat(777).find((m) => m.text.includes(id)), { timeoutMs: 20_000, what: 'Telegram message' });
      const toMessage = Date.now() - t0;
      const t1 = Date.now();
      api.press(msg.message_id, api.button(msg.message_id, '✅ Approve'), { id: 42, username: 'admin' });
      await waitFor(async () => (await z2m.inspect()).State.Running, { timeoutMs: 30_000, what: 'container running again' });
      const toRunning = Date.now() - t1;
      await waitFor(() => /verified healthy/.test(api!.messages.get(msg.message_id)!.text), { timeoutMs: 30_000, what: 'completed and verified' });
      const final = api.messages.get(msg.message_id)!;
      expect(final.text).toMatch(/Completed<\/b>/);
      expect(final.reply_markup?.inline_keyboard.flat() ?? []).toEqual([]);
      console.log(`end to end: docker stop → Telegram message ${toMessage} ms; Approve → container running ${toRunning} ms`);
    } finally {
      await agent.stop();
    }
  }, 120_000);
});
