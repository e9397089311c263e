// The restart budget on the real engine: a service that keeps dying, approved by policy, is
// healed twice (heal: { attempts: 2, within: 1h, backoff: 2s }); then one escalation waits for a
// person and stays pending, listing both heals.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { LocalSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config.js';
import { startControlPlane } from '../../src/main.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled } from '../support/docker.js';
import { memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'nas';

describe.skipIf(!run)('restart budget on a real engine', () => {
  let root: string | undefined;
  afterAll(async () => {
    if (probe.docker) await removeLabelled(probe.docker, runId);
    if (root) await removeDir(root);
  });

  it('keeps dying with auto_approve: two automatic heals, then one escalation that stays pending with both heals', async () => {
    const docker: Docker = probe.docker!;
    root = await tempDir('hcp-budget-');
    const name = `hcp-${runId}-flaky`;
    // Runs two seconds, then dies: each restart "works", and then it is down again.
    const flaky = await makeTestContainer(docker, runId, name, { Cmd: ['sh', '-c', 'sleep 2; exit 3'] });
    const hosts = path.join(root, 'hosts');
    const home = path.join(root, 'homelab');
    await writeHosts(hosts, { [NODE]: `docker:\n  socket: /var/run/docker.sock\nservices:\n  app:\n    containers: [${name}]\n    auto_approve: true\n    heal: { attempts: 2, within: 1h, backoff: 2s }\n` });
    const running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: home, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '1', VERIFY_AFTER_S: '30' }), memoryLogger().log);
    const agent = new Agent({ node: NODE, desired: () => running.desired.current()[NODE]!, docker, sink: new LocalSink(path.join(home, 'events'), NODE), stateDir: path.join(root, 'agent'), log: memoryLogger().log, intervalMs: 60_000, diskPaths: [] });
    await agent.init();
    await agent.start();
    try {
      const all = async () => [...(await running.actions.list('pending')), ...(await running.actions.list('completed')), ...(await running.actions.list('failed'))];
      const escalation = await waitFor(async () => (await running.actions.list('pending')).find((a) => a.budget?.escalation), { timeoutMs: 90_000, what: 'an escalation' });
      const heals = (await all()).filter((a) => a.state === 'completed' || a.state === 'failed');
      expect(heals).toHaveLength(2);
      expect(heals.every((a) => a.approved_by?.via === 'policy')).toBe(true);
      expect(escalation.budget).toMatchObject({ used: 2, attempts: 2, escalation: true });
      expect(escalation.budget!.heals.map((h) => h.instance).sort()).toEqual(heals.map((a) => a.instance).sort());
      // The inspector's findings before each heal: the exit code of the container that died.
      expect(escalation.budget!.heals.every((h) => h.facts?.some((f) => /exit 3/.test(f)))).toBe(true);
      // Stays pending: further passes approve nothing by policy.
      for (let i = 0; i < 3; i++) {
        await running.loops.supervisor.runNow();
        await running.loops.executor.runNow();
      }
      expect((await running.actions.find(escalation.id, escalation.instance))?.state).toBe('pending');
      expect((await all()).filter((a) => a.state !== 'pending')).toHaveLength(2);
      const metrics = await (await fetch(`${running.address}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`homelab_heal_budget_remaining\\{node="${NODE}",service="app"\\} 0`));
      void flaky;
    } finally {
      await agent.stop();
      await running.stop();
    }
  }, 150_000);
});
