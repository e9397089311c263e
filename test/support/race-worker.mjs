// A separate process that does one thing per message, as a Telegram tap, a CLI call, the
// supervisor or the executor would. Used by the race tests. The executor role runs the real
// Executor against a Docker stand-in that records every restart it is asked for.
import { Executor } from '../../dist/loops/executor.js';
import { connect } from 'nats';
import { KvActionStore } from '../../dist/nats/actions-kv.js';
import { ActionStore, TransitionError } from '../../dist/store/actions.js';
import { realClock } from '../../dist/time/clock.js';

// `root`: a data directory, or `nats://…` for the actions in JetStream KV.
const [root, role] = process.argv.slice(2);
const quiet = { info() {}, warn() {}, error() {}, debug() {}, child() { return this; } };
let store;
if (root.startsWith('nats://')) {
  const nc = await connect({ servers: root });
  store = new KvActionStore({ log: quiet, clock: realClock });
  store.begin(nc);
  await store.ready(20_000);
} else {
  store = new ActionStore(root);
}

const MOVES = {
  approve: { from: 'pending', to: 'approved', by: 'telegram:1', patch: { approved_by: { id: 1, name: 'race', via: 'telegram' } } },
  reject: { from: 'pending', to: 'rejected', by: 'cli:race', patch: { rejected_by: { name: 'race', via: 'cli' } } },
  cancel: { from: 'pending', to: 'cancelled', by: 'supervisor', patch: { cancel_reason: 'drift_resolved_auto' } },
};

const restarts = [];
const container = (name) => ({
  inspect: async () => ({ Id: name, Name: `/${name}`, Config: {}, State: { Status: 'running', Running: true, Restarting: false, StartedAt: '2026-01-01T00:00:00Z', ExitCode: 0 } }),
  restart: async () => void restarts.push(name),
});
const docker = { getContainer: container };
// Every service the race uses: `race/s<trial>` with container `s<trial>`.
const services = new Proxy({}, { get: (_, k) => (typeof k === 'string' && /^s\d+$/.test(k) ? { node: 'race', service: k, containers: [k], monitor: true, auto_approve: false } : undefined) });
const executor = new Executor({
  actions: store,
  desired: () => ({ race: { node: 'race', docker: { socket: '/nonexistent.sock' }, services } }),
  world: () => ({ services: {}, nodes: {} }),
  log: quiet,
  now: Date.now,
  actionTimeoutS: 30,
  verifyAfterS: 1,
  settleMs: 0,
  engine: () => docker,
});

function spin(us) {
  const end = process.hrtime.bigint() + BigInt(Math.floor(us * 1000));
  while (process.hrtime.bigint() < end);
}

process.on('message', async (msg) => {
  if (msg === 'exit') process.exit(0);
  if (msg === 'restarts') return process.send({ trial: -1, role, ok: true, list: restarts });
  const { trial, id, instance, jitterUs } = msg;
  spin(jitterUs ?? 0);
  let ok = false;
  let error;
  try {
    if (role === 'execute') {
      // One executor pass: takes whatever is approved now (this trial's action, if it is).
      const before = restarts.length;
      await executor.pass();
      await executor.idle();
      ok = restarts.slice(before).includes(`s${trial}`);
    } else {
      await store.transition({ id, instance, ...MOVES[role] });
      ok = true;
    }
  } catch (err) {
    if (!(err instanceof TransitionError)) error = String(err?.stack ?? err);
  }
  process.send({ trial, role, ok, error, restarts: role === 'execute' ? restarts.length : undefined });
});
process.send({ ready: true });
