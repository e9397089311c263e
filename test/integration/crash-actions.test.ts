// The whole control plane (`run`) in a child process, observing events and carrying out actions
// (auto-approved restarts on a recording Docker Engine), is killed with SIGKILL at random points.
// After each restart it must reach: world equal to a clean replay, every action instance in
// exactly one directory, no dot-file or temp file left, and no action executed twice.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION_STATES, type Action } from '../../src/domain/actions.js';
import { ActionStore } from '../../src/store/actions.js';
import { layout } from '../../src/store/paths.js';
import { FakeDocker } from '../support/fake-docker.js';
import { appendEvents, runNodeArgs, removeDir, tempDir, waitFor, writeHosts, type Ev } from '../support/helpers.js';
import { cleanReplay } from '../support/replay.js';
import { mulberry32, report, scale } from '../support/soak.js';

const ROUNDS = scale(20, 200);
const EVENTS_TOTAL = scale(10_000, 50_000);
const PER_ROUND = Math.ceil(EVENTS_TOTAL / ROUNDS);
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];
const KILL_WINDOW_MS = 2000;
/** After the victim is ready: its first passes (observe, propose, execute) happen in this time. */
const READY_KILL_WINDOW_MS = 1500;
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);

let root: string;
let env: NodeJS.ProcessEnv;
let docker: FakeDocker;

beforeAll(async () => {
  root = await tempDir('hcp-crash-actions-');
  docker = new FakeDocker(path.join(root, 'docker.sock'));
  await docker.start();
  // Service svc-k of every node goes down in round k: five restarts to carry out per round.
  const services = Array.from({ length: ROUNDS + 5 }, (_, k) => `  svc-${k}: { auto_approve: true }`).join('\n');
  const hosts: Record<string, string> = {};
  for (const n of NODES) hosts[n] = `docker:\n  socket: ${docker.socketPath}\nservices:\n${services}\n`;
  await writeHosts(path.join(root, 'hosts'), hosts);
  env = {
    ...process.env,
    HOMELAB_ROOT: path.join(root, 'homelab'),
    HOSTS_DIR: path.join(root, 'hosts'),
    PORT: '0',
    HOST: '127.0.0.1',
    OBSERVER_CHUNK_KB: '4',
    AGENT_SILENT_AFTER_S: '604800',
    RECONCILE_INTERVAL_S: '1',
    VERIFY_AFTER_S: '1',
    LOG_LEVEL: 'info',
    TELEGRAM_BOT_TOKEN: '',
  };
});
afterAll(async () => {
  await docker.stop();
  await removeDir(root);
});

interface Child {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

function startRun(): Child {
  const proc = spawn(process.execPath, [...runNodeArgs, 'run'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { proc, exited, output: () => out };
}

let seq = 0;
function roundEvents(k: number, rand: () => number): Ev[] {
  const now = Date.now();
  const out: Ev[] = [];
  // First, every service reports healthy once (a service never heard of is "missing").
  if (k === 0) for (const node of NODES) for (let j = 0; j < ROUNDS + 5; j++) out.push({ ts: new Date(now - 120_000).toISOString(), node, type: 'service_healthy', service: `svc-${j}`, seq: ++seq });
  for (let i = 0; i < PER_ROUND - NODES.length; i++) {
    const node = NODES[Math.floor(rand() * NODES.length)]!;
    const r = rand();
    const ts = new Date(now - 60_000 + Math.floor((i / PER_ROUND) * 50_000)).toISOString();
    if (r < 0.3) out.push({ ts, node, type: 'node_heartbeat', seq: ++seq });
    else if (r < 0.4) out.push({ ts, node, type: 'agent_note', seq: ++seq, detail: { i } });
    else if (r < 0.5) out.push({ ts, node, type: 'disk_pressure', seq: ++seq, detail: { level: 'normal', used_pct: Math.round(rand() * 80) } });
    // Healthy reports for services that are not (yet) going down in this run's rounds.
    else out.push({ ts, node, type: 'service_healthy', service: `svc-${k + 1 + Math.floor(rand() * 4)}`, seq: ++seq });
  }
  const ts = new Date(now - 5_000).toISOString();
  for (const node of NODES) out.push({ ts, node, type: 'containers_not_running', service: `svc-${k}`, seq: ++seq });
  // Last round's services are healthy again after their restart (else, once their cooldown ran
  // out, they would be proposed again and again and every round would carry more work).
  if (k > 0) for (const node of NODES) out.push({ ts: new Date(now - 2_000).toISOString(), node, type: 'service_recovered', service: `svc-${k - 1}`, seq: ++seq });
  return out;
}


/** True when the checkpoint has read every event file to its end. */
async function caughtUp(): Promise<boolean> {
  const l = layout(env.HOMELAB_ROOT!);
  const cp = JSON.parse(await readFile(l.checkpoint, 'utf8')) as { positions: Record<string, Record<string, { offset: number }>> };
  for (const day of await readdir(l.events)) {
    for (const f of await readdir(path.join(l.events, day))) {
      const size = (await stat(path.join(l.events, day, f))).size;
      if (cp.positions[f.replace(/\.jsonl$/, '')]?.[day]?.offset !== size) return false;
    }
  }
  return true;
}

async function actionFiles(): Promise<{ state: string; name: string; a: Action | undefined }[]> {
  const store = new ActionStore(path.join(env.HOMELAB_ROOT!, 'actions'));
  const out = [];
  for (const s of ACTION_STATES) {
    // (A run killed before it made its directories leaves none.)
    for (const name of await readdir(path.join(env.HOMELAB_ROOT!, 'actions', s)).catch(() => [] as string[])) out.push({ state: s, name, a: await store.read(s, name) });
  }
  return out;
}

async function actionNames(): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const s of ACTION_STATES) for (const name of await readdir(path.join(env.HOMELAB_ROOT!, 'actions', s)).catch(() => [] as string[])) out.push([s, name]);
  return out;
}

async function dotFiles(): Promise<string[]> {
  const l = layout(env.HOMELAB_ROOT!);
  const dirs = [l.world, l.state, ...ACTION_STATES.map((s) => path.join(l.actions, s))];
  const out: string[] = [];
  for (const d of dirs) for (const n of await readdir(d).catch(() => [] as string[])) if (n.startsWith('.')) out.push(path.join(d, n));
  return out;
}

describe('crash consistency with actions under way', () => {
  it(`SIGKILL at ${ROUNDS} random points: world, actions and Docker calls stay right`, async () => {
    const rand = mulberry32(SEED);
    const l = layout(env.HOMELAB_ROOT!);
    const figures = { seed: SEED, kills: 0, kills_mid_action: 0, kills_before_ready: 0, events: 0, actions: 0, completed: 0, failed_interrupted: 0, docker_restart_calls: 0, failures: 0 };
    for (let k = 0; k < ROUNDS; k++) {
      const events = roundEvents(k, rand);
      await appendEvents(l.root, events);
      figures.events += events.length;

      // A run killed at a random moment: half the rounds while it starts up, half after it is
      // ready (observing, proposing, executing), so the mix does not depend on how fast it starts.
      const victim = startRun();
      const afterReady = k % 2 === 1;
      if (afterReady) await waitFor(() => victim.output().includes('web page and API on') || victim.proc.exitCode !== null, { timeoutMs: 30_000, what: 'the victim ready' });
      const killAfter = rand() * (afterReady ? READY_KILL_WINDOW_MS : KILL_WINDOW_MS);
      await new Promise((r) => setTimeout(r, killAfter)); // the kill point itself, not a wait for a condition
      victim.proc.kill('SIGKILL');
      await victim.exited;
      figures.kills++;
      if (!victim.output().includes('web page and API on')) figures.kills_before_ready++;
      const at = await actionNames();
      if (at.some(([state, name]) => state === 'running' || name.endsWith('.claim'))) figures.kills_mid_action++;

      // The restart finishes the work: all events read, the round's restarts carried out.
      const run = startRun();
      try {
        await waitFor(
          async () => {
            if (!run.output().includes('control plane running')) return false;
            if (!(await caughtUp())) return false;
            // By name only: this is polled, and the action files grow to a thousand.
            const names = await actionNames();
            if (names.some(([state, name]) => ['pending', 'approved', 'running'].includes(state) || name.startsWith('.'))) return false;
            return NODES.every((n) => names.some(([state, name]) => (state === 'completed' || state === 'failed') && name.startsWith(`container-restart-${n}-svc-${k}@`)));
          },
          { timeoutMs: 60_000, what: `round ${k} to settle` },
        );
      } catch (err) {
        const files = (await actionFiles()).map((f) => `${f.state}/${f.name}`);
        throw new Error(`${(err as Error).message}\ncaught up: ${await caughtUp().catch((e) => String(e))}\nfiles: ${files.join(' ')}\noutput:\n${run.output().slice(-4000)}`);
      } finally {
        run.proc.kill('SIGTERM');
      }
      const ended = await run.exited;
      expect(ended.code, run.output().slice(-2000)).toBe(0);

      // World equals a clean replay of the same events.
      const expected = await cleanReplay(env);
      expect(await readFile(l.worldServices, 'utf8')).toBe(expected.services);
      expect(await readFile(l.worldNodes, 'utf8')).toBe(expected.nodes);
      // No dot-file or temp file survives a start-up and a clean stop.
      expect(await dotFiles()).toEqual([]);
      // Each instance in exactly one directory.
      const files = await actionFiles();
      const where = new Map<string, string[]>();
      for (const f of files) {
        expect(f.a, `unreadable action file ${f.state}/${f.name}`).toBeDefined();
        const key = `${f.a!.id}@${f.a!.instance}`;
        where.set(key, [...(where.get(key) ?? []), f.state]);
      }
      for (const [key, states] of where) expect(states, key).toHaveLength(1);
      // Docker was asked to restart a container at most once per instance that reached running/.
      const ran = new Map<string, number>();
      for (const f of files) if (f.a!.history.some((h) => h.state === 'running')) for (const c of f.a!.containers ?? []) ran.set(`${f.a!.node}:${c}`, (ran.get(`${f.a!.node}:${c}`) ?? 0) + 1);
      const perContainer = docker.restarts();
      // The fake engine sees container names only; every node names its containers alike, so
      // compare per container name summed over nodes.
      const ranByName = new Map<string, number>();
      for (const [key, n] of ran) ranByName.set(key.split(':')[1]!, (ranByName.get(key.split(':')[1]!) ?? 0) + n);
      for (const [name, calls] of perContainer) expect(calls, `restarts of ${name}`).toBeLessThanOrEqual(ranByName.get(name) ?? 0);
      // And every completed restart did call Docker.
      for (const f of files.filter((x) => x.state === 'completed')) for (const c of f.a!.containers ?? []) expect(perContainer.get(c) ?? 0).toBeGreaterThan(0);
    }
    const files = await actionFiles();
    figures.actions = files.length;
    figures.completed = files.filter((f) => f.state === 'completed').length;
    figures.failed_interrupted = files.filter((f) => f.state === 'failed' && f.a?.error === 'interrupted').length;
    figures.docker_restart_calls = [...docker.restarts().values()].reduce((a, b) => a + b, 0);
    expect(figures.events).toBeGreaterThanOrEqual(EVENTS_TOTAL);
    expect(figures.kills_mid_action).toBeGreaterThan(0);
    report('crash_points', figures);
  }, scale(600_000, 1_700_000));
});
