// kill -9 at random points while a child process works through the event logs; after every
// restart, world state must equal a clean full replay of the same events.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout } from '../../src/store/paths.js';
import { appendEvents, cliPath, removeDir, tempDir, writeHosts, type Ev } from '../support/helpers.js';
import { cleanReplay } from '../support/replay.js';
import { mulberry32 } from '../support/soak.js';

const KILLS = 24;
const EVENTS_PER_ROUND = 1000;
const NODES = ['n1', 'n2', 'n3', 'n4', 'n5'];
const TYPES = ['service_healthy', 'containers_not_running', 'healthcheck_failed', 'service_recovered', 'node_heartbeat', 'disk_pressure', 'agent_note'];

let root: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  root = await tempDir('hcp-crash-');
  await writeHosts(path.join(root, 'hosts'), { n1: 'services:\n  svc-1: {}\n' });
  env = {
    ...process.env,
    HOMELAB_ROOT: path.join(root, 'homelab'),
    HOSTS_DIR: path.join(root, 'hosts'),
    OBSERVER_CHUNK_KB: '4',
    AGENT_SILENT_AFTER_S: '604800',
    LOG_LEVEL: 'trace',
  };
});
afterAll(async () => {
  await removeDir(root);
});

let seq = 0;
function randomEvents(n: number, rand: () => number): Ev[] {
  const base = Date.now() - 3_600_000;
  const out: Ev[] = [];
  for (let i = 0; i < n; i++) {
    const node = NODES[Math.floor(rand() * NODES.length)]!;
    const type = TYPES[Math.floor(rand() * TYPES.length)]!;
    const ts = new Date(base + seq++ * 50).toISOString();
    const e: Ev = { ts, node, type, seq };
    if (type === 'disk_pressure') e.detail = { level: rand() < 0.5 ? 'high' : 'normal', used_pct: Math.round(rand() * 100) };
    else if (type !== 'node_heartbeat') e.service = `svc-${Math.floor(rand() * 30)}`;
    out.push(e);
  }
  return out;
}


/** Runs `observe --once`; with killAfterMs, SIGKILLs it that long after its pass has started. */
function runChild(killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    let started = performance.now();
    const child = spawn(process.execPath, [cliPath, 'observe', '--once'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on('data', (d) => {
      const first = !stderr.includes('observer pass started');
      stderr += d;
      if (first && stderr.includes('observer pass started')) {
        started = performance.now();
        if (killAfterMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: performance.now() - started, stderr });
    });
  });
}


async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('.'));
}

describe('crash consistency', () => {
  it(`world equals a clean replay after SIGKILL at ${KILLS} random points`, async () => {
    const rand = mulberry32(Number(process.env.CRASH_SEED ?? Date.now() % 100000));
    const l = layout(env.HOMELAB_ROOT!);
    // Calibrate: how long does one round of work take in a child process?
    await appendEvents(l.root, randomEvents(EVENTS_PER_ROUND, rand));
    const calib = await runChild();
    expect(calib.code, calib.stderr).toBe(0);
    // calib.ms counts from the start of the pass to the exit: the window for kills.
    const window = calib.ms;

    let midway = 0;
    let total = EVENTS_PER_ROUND;
    for (let k = 0; k < KILLS; k++) {
      await appendEvents(l.root, randomEvents(EVENTS_PER_ROUND, rand));
      total += EVENTS_PER_ROUND;
      const before = await readFile(l.checkpoint, 'utf8').catch(() => '');
      const killed = await runChild(rand() * window);
      const after = await readFile(l.checkpoint, 'utf8').catch(() => '');
      // The kill landed after the child had published some, but not all, of the new work.
      if (killed.signal === 'SIGKILL' && after !== before) midway++;

      const restart = await runChild();
      expect(restart.code, restart.stderr).toBe(0);
      expect(await leftovers(l.world)).toEqual([]);
      expect(await leftovers(l.state)).toEqual([]);
      const expected = await cleanReplay(env);
      expect(await readFile(l.worldServices, 'utf8')).toBe(expected.services);
      expect(await readFile(l.worldNodes, 'utf8')).toBe(expected.nodes);
    }
    expect(total).toBeGreaterThanOrEqual(20_000);
    // Some kills must have hit the child while it was publishing, or the test proved little.
    expect(midway).toBeGreaterThan(0);
    console.log(`crash test: ${KILLS} kills, ${midway} landed mid-work, ${total} events`);
  }, 300_000);
});
