// Evidence beside a proposed action, read from the real Docker Engine: state, exit code, OOM kill,
// health output and the log tail, redacted; an unreachable engine is evidence too.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DesiredState } from '../../src/domain/schemas.js';
import { Inspector } from '../../src/loops/inspector.js';
import { EvidenceStore, evidenceFacts } from '../../src/store/evidence.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled, TEST_LABEL } from '../support/docker.js';
import { appendEvents, cliPath, memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';
import { controlPlaneFixture } from '../support/control-plane.js';
import { botEnv, FakeBotApi, TEST_BOT } from '../support/bot-api.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'evnode';
const cname = (s: string) => `hcp-${runId}-${s}`;
let docker: Docker;
let dir: string;

function desired(services: Record<string, string[]>, socket = '/var/run/docker.sock'): DesiredState {
  return { [NODE]: { node: NODE, docker: { socket, prune_label: `${TEST_LABEL}=${runId}` }, services: Object.fromEntries(Object.entries(services).map(([s, c]) => [s, { node: NODE, service: s, containers: c, monitor: true, auto_approve: false }])) } };
}
function inspector(d: DesiredState, evidence = new EvidenceStore(path.join(dir, 'evidence'))) {
  return new Inspector({ desired: () => d, evidence, engineOptions: {}, log: memoryLogger().log, tailLines: 30 });
}
const action = (service: string) => ({ id: `container-restart-${NODE}-${service}`, instance: '20260527T140000Z', node: NODE, service });

// Known lines on stdout and stderr, a secret of each kind, ANSI colours and a byte that is not UTF-8.
const SCRIPT = [
  'echo "line one on stdout"',
  'echo "line two on stderr" >&2',
  'echo "token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-x"',
  'echo "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def"',
  'echo "db password=hunter2"',
  'printf "\\033[31mred\\033[0m and \\377 bad byte\\n"',
  'exit 3',
].join('; ');

describe.skipIf(!run)('evidence on a real engine', () => {
  beforeAll(async () => {
    docker = probe.docker!;
    dir = await tempDir('hcp-evidence-');
  });
  afterAll(async () => {
    if (docker) await removeLabelled(docker, runId);
    if (dir) await removeDir(dir);
  });

  it('an exited container: state, exit code 3, restarts, the lines in order, redacted, without ANSI codes', async () => {
    const c = await makeTestContainer(docker, runId, cname('exit3'), { Cmd: ['sh', '-c', SCRIPT] });
    await waitFor(async () => (await c.inspect()).State.Status === 'exited', { what: 'the container to exit' });
    const e = await inspector(desired({ app: [cname('exit3')] })).evidenceFor(action('app'));
    expect(e.error).toBeUndefined();
    const [ev] = e.containers;
    expect(ev).toMatchObject({ name: cname('exit3'), state: 'exited', exit_code: 3, oom_killed: false, restart_count: 0, health: null });
    expect(ev!.image_id).toMatch(/^sha256:/);
    const text = ev!.logs.map((l) => l.replace(/^\S+ /, ''));
    // stdout in the order written; stderr is a separate pipe, timed by Docker when it read it.
    const stdout = ['line one on stdout', 'token <redacted>', 'Authorization: <redacted>', 'db password=<redacted>', 'red and \uFFFD bad byte'];
    expect(text.filter((l) => l !== 'line two on stderr')).toEqual(stdout);
    expect(text).toContain('line two on stderr');
    for (const l of ev!.logs) expect(l).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('a failing health check: its status, failing streak and last output', async () => {
    const c = await makeTestContainer(docker, runId, cname('unhealthy'), {
      Healthcheck: { Test: ['CMD-SHELL', 'echo "curl: (7) Failed to connect password=hunter2"; exit 1'], Interval: 200_000_000, Timeout: 1_000_000_000, Retries: 1, StartPeriod: 0 },
    });
    await waitFor(async () => (await c.inspect()).State.Health?.Status === 'unhealthy', { timeoutMs: 20_000, what: 'unhealthy' });
    const e = await inspector(desired({ web: [cname('unhealthy')] })).evidenceFor(action('web'));
    expect(e.containers[0]).toMatchObject({ state: 'running', exit_code: null, health: { status: 'unhealthy', last_output: 'curl: (7) Failed to connect password=<redacted>' } });
    expect(e.containers[0]!.health!.failing_streak).toBeGreaterThanOrEqual(1);
  });

  it('a container killed for memory is oom_killed (where the engine can enforce memory limits)', async (ctx) => {
    const info = await docker.info();
    if (info.MemoryLimit === false) {
      console.warn('skipping the OOM evidence test: this Docker Engine cannot enforce memory limits (docker info: MemoryLimit false, no cgroup memory controller)');
      return ctx.skip();
    }
    const c = await makeTestContainer(docker, runId, cname('oom'), { Cmd: ['sh', '-c', 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'], HostConfig: { Init: true, Memory: 16 * 1024 * 1024, MemorySwap: 16 * 1024 * 1024 } });
    await waitFor(async () => (await c.inspect()).State.Status === 'exited', { timeoutMs: 30_000, what: 'the container to be killed' });
    const e = await inspector(desired({ mem: [cname('oom')] })).evidenceFor(action('mem'));
    expect(e.containers[0]).toMatchObject({ state: 'exited', oom_killed: true });
  });

  it('disk_cleanup: the disk use the agent reported and what a prune would reclaim (docker system df)', async () => {
    const world = { services: {}, nodes: { [NODE]: { node: NODE, agent: 'alive' as const, last_seen: null, last_event_type: null, disk_pressure: 'high' as const, disk_used_pct: 91, disk_updated_at: '2026-05-27T14:00:00.000Z', events_applied: 1, events_unknown: 0 } } };
    const make = (socket?: string) => new Inspector({ desired: () => desired({}, socket), world: () => world, evidence: new EvidenceStore(path.join(dir, 'evidence')), engineOptions: {}, log: memoryLogger().log, tailLines: 30 });
    const e = await make().evidenceFor({ id: `disk-cleanup-${NODE}`, instance: 'i1', node: NODE, service: null, type: 'disk_cleanup' });
    expect(e.error).toBeUndefined();
    expect(e.disk).toMatchObject({ used_pct: 91, pressure: 'high', reported_at: '2026-05-27T14:00:00.000Z' });
    for (const v of Object.values(e.disk!.reclaimable!)) expect(v).toBeGreaterThanOrEqual(0);
    expect(evidenceFacts(e)[0]).toMatch(/^disk 91% used · a prune would reclaim about \d+/);
    const down = await make('/nonexistent/docker.sock').evidenceFor({ id: `disk-cleanup-${NODE}`, instance: 'i1', node: NODE, service: null, type: 'disk_cleanup' });
    expect(down.disk).toMatchObject({ used_pct: 91, reclaimable: null });
    expect(evidenceFacts(down)).toEqual(['disk 91% used', expect.stringMatching(/cannot reach/)]);
  });

  it('a container that does not exist is missing; an unreachable engine is explained, at once', async () => {
    const missing = await inspector(desired({ gone: [cname('never-created')] })).evidenceFor(action('gone'));
    expect(missing.containers).toEqual([expect.objectContaining({ name: cname('never-created'), state: 'missing' })]);
    const t = Date.now();
    const down = await inspector(desired({ app: ['x'] }, '/nonexistent/docker.sock')).evidenceFor(action('app'));
    expect(down.containers).toEqual([]);
    expect(down.error).toMatch(/cannot reach evnode's Docker Engine at .*the socket does not exist/);
    expect(Date.now() - t).toBeLessThan(5000);
  });

  it('end to end: the action is written first, its evidence follows, the chat shows "exit 3" and the Logs button answers with the lines', async () => {
    await makeTestContainer(docker, runId, cname('e2e'), { Cmd: ['sh', '-c', 'echo "about to fail"; echo "db password=hunter2" >&2; exit 3'] });
    const f = await controlPlaneFixture('hcp-ev-e2e-');
    const api = await new FakeBotApi(TEST_BOT.token).start();
    try {
      await writeHosts(f.hosts, { [NODE]: `docker:\n  socket: /var/run/docker.sock\n  prune_label: ${TEST_LABEL}=${runId}\nservices:\n  app:\n    containers: [${cname('e2e')}]\n` });
      const running = await f.start(botEnv(api), { paused: ['executor'] });
      const ts = () => new Date().toISOString();
      await appendEvents(f.l.root, [{ ts: ts(), node: NODE, type: 'node_heartbeat' }, { ts: ts(), node: NODE, type: 'containers_not_running', service: 'app' }]);
      const id = `container-restart-${NODE}-app`;
      const pending = await waitFor(async () => JSON.parse(await readFile(path.join(f.l.actionDir('pending'), `${id}.json`), 'utf8').catch(() => 'null')), { what: 'the pending action' });
      const file = path.join(f.l.actions, 'evidence', `${id}@${pending.instance}.json`);
      const e = await waitFor(async () => JSON.parse(await readFile(file, 'utf8').catch(() => 'null')), { what: 'the evidence file' });
      expect(e.containers[0]).toMatchObject({ state: 'exited', exit_code: 3 });
      expect(e.containers[0].logs.map((l: string) => l.replace(/^\S+ /, '')).sort()).toEqual(['about to fail', 'db password=<redacted>']);
      expect(await readFile(path.join(f.l.actionDir('pending'), `${id}.json`), 'utf8')).not.toContain('hunter2');
      const msg = await waitFor(() => api.chat(TEST_BOT.chat).find((m) => m.text.includes(id) && /🔎 exit 3/.test(m.text)), { what: 'the message with its evidence line' });
      const cq = api.press(msg.message_id, api.button(msg.message_id, '📜 Logs'), TEST_BOT.admin);
      await waitFor(() => api.answers.get(cq), { what: 'the press answered' });
      const logs = await waitFor(() => api.chat(TEST_BOT.chat).find((m) => /📜 <b>Logs of app on evnode<\/b>/.test(m.text)), { what: 'the logs reply' });
      expect(logs.text).toMatch(/<blockquote expandable>[^<]*about to fail[^<]*<\/blockquote>/);
      expect(logs.text).toMatch(/<blockquote expandable>[^<]*db password=&lt;redacted&gt;[^<]*<\/blockquote>/);
      expect(api.chat(TEST_BOT.chat).some((m) => m.text.includes('hunter2'))).toBe(false);
      expect(api.unexpectedRefusals()).toEqual([]);
      // Copy for AI and the CLI carry the same evidence, redacted.
      const page = await (await fetch(`${running.address}/`)).text();
      expect(page).toMatch(/<details><summary>🔎 exit 3/);
      expect(page).toContain('about to fail');
      expect(page).not.toContain('hunter2');
      const ai = await (await fetch(`${running.address}/ai-context`)).text();
      expect(ai).toMatch(/evidence \(read [^)]+\): exit 3/);
      expect(ai).toContain('about to fail');
      expect(ai).not.toContain('hunter2');
      const show = spawnSync(process.execPath, [cliPath, 'actions', 'show', id], { env: { PATH: process.env.PATH, HOMELAB_ROOT: f.l.root, HOSTS_DIR: f.hosts }, encoding: 'utf8' });
      expect(show.stdout).toMatch(/evidence \(read [^)]+\): exit 3/);
      expect(show.stdout).toMatch(/about to fail/);
      expect(show.stdout).not.toContain('hunter2');
      const cliEnv = { PATH: process.env.PATH, HOMELAB_ROOT: f.l.root, HOSTS_DIR: f.hosts };
      const logs2 = spawnSync(process.execPath, [cliPath, 'logs', `${NODE}/app`, '--lines', '5'], { env: cliEnv, encoding: 'utf8' });
      expect(logs2.status).toBe(0);
      expect(logs2.stdout).toMatch(/exit 3/);
      expect(logs2.stdout).toMatch(/about to fail/);
      expect(logs2.stdout).not.toContain('hunter2');
      const refused = spawnSync(process.execPath, [cliPath, 'logs', `${NODE}/postgres`], { env: cliEnv, encoding: 'utf8' });
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(/not read: no service "postgres"/);
    } finally {
      await f.cleanup();
      await api.close();
    }
  });
});
