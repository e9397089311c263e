// Approve vs reject vs auto-cancel vs the executor, each from its own process, on the same
// pending action: exactly one transition out of pending wins, nothing is lost or duplicated, and
// Docker is asked to restart a container only for approved actions, exactly once each. On both
// backends: the files, and JetStream KV on a real nats-server (each worker its own connection).
import { fork, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION_STATES } from '../../src/domain/actions.js';
import type { ActionBackend } from '../../src/store/action-backend.js';
import { ActionStore } from '../../src/store/actions.js';
import { removeDir, repoRoot, tempDir, waitFor } from '../support/helpers.js';
import { natsMissing, openKvStore, startNats, type TestNats } from '../support/nats.js';
import { report, scale } from '../support/soak.js';

const TRIALS = Number(process.env.RACE_TRIALS ?? scale(1000, 10_000));
const ROLES = ['approve', 'reject', 'cancel', 'execute'] as const;

const missing = natsMissing();
if (missing) console.warn(`KV race tests skipped: ${missing}`);

describe.each([
  { backend: 'files', skip: false },
  { backend: 'JetStream KV', skip: missing !== undefined },
])('transition races across processes on $backend', ({ backend, skip }) => {
let root: string;
let store: ActionBackend;
let nats: TestNats | undefined;
let closeStore: (() => Promise<void>) | undefined;
const workers = new Map<string, ChildProcess>();

beforeAll(async () => {
  if (skip) return;
  root = await tempDir('hcp-race-');
  let where = root;
  if (backend === 'files') {
    const files = new ActionStore(root);
    await files.ensureDirs();
    store = files;
  } else {
    nats = await startNats(root);
    const kv = await openKvStore(nats.url);
    store = kv.store;
    closeStore = kv.close;
    where = nats.url;
  }
  for (const role of ROLES) {
    const w = fork(path.join(repoRoot, 'test', 'support', 'race-worker.mjs'), [where, role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve) => w.once('message', () => resolve()));
    workers.set(role, w);
  }
});
afterAll(async () => {
  for (const w of workers.values()) w.send('exit');
  await closeStore?.();
  await nats?.stop();
  if (root) await removeDir(root);
});

interface Reply {
  trial: number;
  role: string;
  ok: boolean;
  error?: string;
  list?: string[];
}

function ask(role: string, msg: object | string, trial = (msg as { trial: number }).trial): Promise<Reply> {
  const w = workers.get(role)!;
  return new Promise((resolve) => {
    const on = (m: Reply) => {
      if (m.trial === trial) {
        w.off('message', on);
        resolve(m);
      }
    };
    w.on('message', on);
    w.send(msg);
  });
}

async function allFiles(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const s of ACTION_STATES) out[s] = await readdir(path.join(root, s));
  return out;
}

  it.skipIf(skip)(`${TRIALS} trials: exactly one outcome per instance; Docker only for approved ones`, async () => {
    const outcomes: Record<string, number> = {};
    const winner = new Map<number, string>();
    for (let trial = 0; trial < TRIALS; trial++) {
      const id = `container-restart-race-s${trial}`;
      const created = await store.create({
        id,
        instance: '20260527T140000Z',
        type: 'container_restart',
        risk: 'low',
        node: 'race',
        service: `s${trial}`,
        drift: 'unhealthy_service',
        trigger: 'containers_not_running',
        containers: [`s${trial}`],
        drift_since: null,
      });
      expect(created).toBeDefined();
      // The executor only finds work after an approval: it tries right after the others.
      const replies = await Promise.all(
        ROLES.map((role) => ask(role, { trial, id, instance: created!.instance, jitterUs: Math.random() * (role === 'execute' ? 1500 : 400) })),
      );
      for (const r of replies) expect(r.error).toBeUndefined();
      const winners = replies.filter((r) => r.ok && r.role !== 'execute').map((r) => r.role);
      expect(winners).toHaveLength(1);
      winner.set(trial, winners[0]!);
      const ran = replies.find((r) => r.role === 'execute')!.ok;
      if (ran) expect(winners[0]).toBe('approve');
      const key = winners[0]! + (ran ? '+executed at once' : '');
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    // Approved actions the executor missed in their own trial are taken by its next pass.
    await ask('execute', { trial: TRIALS, id: 'none', instance: 'none', jitterUs: 0 });
    const restarts = (await ask('execute', 'restarts', -1)).list!;
    // Another process's changes reach a KV store's reads through its watch: a moment later.
    await waitFor(async () => {
      const c = await store.counts();
      return c.pending + c.approved + c.running === 0 && Object.values(c).reduce((n, k) => n + k, 0) === TRIALS;
    }, { what: 'every action finished, as this process reads them', timeoutMs: 30_000 });
    const counted = new Map<string, number>();
    for (const c of restarts) counted.set(c, (counted.get(c) ?? 0) + 1);
    let approved = 0;
    for (const [trial, w] of winner) {
      const calls = counted.get(`s${trial}`) ?? 0;
      if (w === 'approve') approved++;
      expect(calls, `Docker restarts for trial ${trial} (${w})`).toBe(w === 'approve' ? 1 : 0);
      const history = await store.history(`container-restart-race-s${trial}`);
      expect(history).toHaveLength(1);
      const expectedState = { approve: 'completed', reject: 'rejected', cancel: 'cancelled' }[w as 'approve'];
      expect(history[0]!.state).toBe(expectedState);
    }
    if (backend === 'files') {
      const files = await allFiles();
      for (const [state, names] of Object.entries(files)) {
        expect(names.filter((n) => n.startsWith('.')), `dot-files left in ${state}`).toEqual([]);
      }
      const total = Object.values(files).reduce((n, l) => n + l.length, 0);
      expect(total).toBe(TRIALS);
      expect(files.pending).toEqual([]);
    }
    const counts = await store.counts();
    expect(Object.values(counts).reduce((n, c) => n + c, 0)).toBe(TRIALS);
    expect(counts.pending + counts.approved + counts.running).toBe(0);
    expect(restarts).toHaveLength(approved);
    report(backend === 'files' ? 'races' : 'races_kv', { trials: TRIALS, outcomes, docker_restarts: restarts.length, approved, failures: 0 });
  }, scale(600_000, 1_700_000));
});
