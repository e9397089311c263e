// Approve vs reject vs auto-cancel vs executor claim, each from its own process, on the same
// pending action: exactly one transition out of pending wins, nothing is lost or duplicated.
import { fork, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION_STATES } from '../../src/domain/actions.js';
import { ActionStore } from '../../src/store/actions.js';
import { removeDir, repoRoot, tempDir } from '../support/helpers.js';

const TRIALS = Number(process.env.RACE_TRIALS ?? 1000);
const ROLES = ['approve', 'reject', 'cancel', 'claim'] as const;

let root: string;
let store: ActionStore;
const workers = new Map<string, ChildProcess>();

beforeAll(async () => {
  root = await tempDir('hcp-race-');
  store = new ActionStore(root);
  await store.ensureDirs();
  for (const role of ROLES) {
    const w = fork(path.join(repoRoot, 'test', 'support', 'race-worker.mjs'), [root, role], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve) => w.once('message', () => resolve()));
    workers.set(role, w);
  }
});
afterAll(async () => {
  for (const w of workers.values()) w.send('exit');
  await removeDir(root);
});

interface Reply {
  trial: number;
  role: string;
  ok: boolean;
  error?: string;
}

function ask(role: string, msg: object): Promise<Reply> {
  const w = workers.get(role)!;
  return new Promise((resolve) => {
    const on = (m: Reply) => {
      if (m.trial === (msg as { trial: number }).trial) {
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

describe('transition races across processes', () => {
  it(`${TRIALS} trials: exactly one outcome per instance`, async () => {
    const outcomes: Record<string, number> = {};
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
      // The executor's claim only makes sense after an approval: it tries right after the others.
      const replies = await Promise.all(
        ROLES.map((role) => ask(role, { trial, id, instance: created!.instance, jitterUs: Math.random() * (role === 'claim' ? 1500 : 400) })),
      );
      for (const r of replies) expect(r.error).toBeUndefined();
      const winners = replies.filter((r) => r.ok && r.role !== 'claim').map((r) => r.role);
      expect(winners).toHaveLength(1);
      const key = winners[0]! + (replies.find((r) => r.role === 'claim')!.ok ? '+claim' : '');
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      const history = await store.history(id);
      expect(history).toHaveLength(1);
      const a = history[0]!;
      const expectedState = { approve: 'approved', reject: 'rejected', cancel: 'cancelled' }[winners[0] as 'approve'];
      expect(a.state).toBe(key.endsWith('+claim') ? 'running' : expectedState);
      expect(a.history.map((h) => h.state)[1]).toBe(expectedState);
    }
    const files = await allFiles();
    for (const [state, names] of Object.entries(files)) {
      expect(names.filter((n) => n.startsWith('.')), `dot-files left in ${state}`).toEqual([]);
    }
    const total = Object.values(files).reduce((n, l) => n + l.length, 0);
    expect(total).toBe(TRIALS);
    expect(files.pending).toEqual([]);
    console.log(`race: ${TRIALS} trials, outcomes ${JSON.stringify(outcomes)}`);
  }, 600_000);
});
