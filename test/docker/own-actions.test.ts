// Our own actions are not news, on the real engine: a restart of a container with a health
// check makes the engine say stop, die, start and "health: starting"; during the action and its
// verification none of it opens a drift, an action, a message or a notice of its own.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { LocalSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config.js';
import { startControlPlane } from '../../src/main.js';
import { FakeBotApi } from '../support/bot-api.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled } from '../support/docker.js';
import { memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'nas';

describe.skipIf(!run)('our own actions are not news', () => {
  let root: string | undefined;
  afterAll(async () => {
    if (probe.docker) await removeLabelled(probe.docker, runId);
    if (root) await removeDir(root);
  });

  it('approve a restart of a container with a health check: one message, edited to verified; no other action, message or notice', async () => {
    const docker: Docker = probe.docker!;
    root = await tempDir('hcp-own-');
    const name = `hcp-${runId}-web`;
    // Healthy only after its start period's first checks: a restart passes through "starting".
    const web = await makeTestContainer(docker, runId, name, { Healthcheck: { Test: ['CMD', 'true'], Interval: 400_000_000, Timeout: 1_000_000_000, Retries: 1, StartPeriod: 1_000_000_000 } });
    await waitFor(async () => (await web.inspect()).State.Health?.Status === 'healthy', { timeoutMs: 30_000, what: 'healthy at first' });
    const token = '987654321:AAE2eTestTokenForTheOwnActionsTest_a';
    const api = await new FakeBotApi(token).start();
    const hosts = path.join(root, 'hosts');
    const home = path.join(root, 'homelab');
    await writeHosts(hosts, { [NODE]: `docker:\n  socket: /var/run/docker.sock\nservices:\n  web:\n    containers: [${name}]\n` });
    const running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: home, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '1', VERIFY_AFTER_S: '20', TELEGRAM_BOT_TOKEN: token, TELEGRAM_CHAT_ID: '777', TELEGRAM_ADMIN_IDS: '42', TELEGRAM_API_ROOT: api.url }), memoryLogger().log);
    const agent = new Agent({ node: NODE, desired: () => running.desired.current()[NODE]!, docker, sink: new LocalSink(path.join(home, 'events'), NODE), stateDir: path.join(root, 'agent'), log: memoryLogger().log, intervalMs: 60_000, diskPaths: [] });
    await agent.init();
    await agent.start();
    try {
      await waitFor(() => running.observer.current().services[`${NODE}/web`]?.status === 'healthy', { timeoutMs: 30_000, what: 'healthy in the world' });
      await web.stop({ t: 1 });
      const id = `container-restart-${NODE}-web`;
      const msg = await waitFor(() => api.chat(777).find((m) => m.text.includes(id)), { timeoutMs: 30_000, what: 'the message' });
      const sendsBefore = api.callsOf('sendMessage').length;
      const approvedAt = new Date().toISOString();
      api.press(msg.message_id, api.button(msg.message_id, '✅ Approve'), { id: 42, username: 'admin' });
      await waitFor(() => /verified healthy/.test(api.messages.get(msg.message_id)!.text), { timeoutMs: 60_000, what: 'completed and verified' });
      // Passes after it: still nothing new.
      await running.loops.observer.runNow();
      await running.loops.supervisor.runNow();
      await running.telegram!.loop.runNow();
      await running.telegram!.outbox.whenIdle();
      expect(api.callsOf('sendMessage').length).toBe(sendsBefore);
      expect(await running.actions.list('pending')).toEqual([]);
      const all = [...(await running.actions.list('completed')), ...(await running.actions.list('cancelled')), ...(await running.actions.list('failed'))];
      expect(all.map((a) => `${a.id}:${a.state}`)).toEqual([`${id}:completed`]);
      expect((await running.supervisorState.notices()).filter((n) => n.opened_at >= approvedAt).map((n) => n.key)).toEqual([]);
    } finally {
      await agent.stop();
      await running.stop();
      await api.close();
    }
  }, 150_000);
});
