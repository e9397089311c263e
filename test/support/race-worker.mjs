// A separate process that tries one transition per message, as a Telegram tap, a CLI call, the
// supervisor or the executor would. Used by the race tests.
import { ActionStore, TransitionError } from '../../dist/store/actions.js';

const [root, role] = process.argv.slice(2);
const store = new ActionStore(root);

const MOVES = {
  approve: { from: 'pending', to: 'approved', by: 'telegram:1', patch: { approved_by: { id: 1, name: 'race', via: 'telegram' } } },
  reject: { from: 'pending', to: 'rejected', by: 'cli:race', patch: { rejected_by: { name: 'race', via: 'cli' } } },
  cancel: { from: 'pending', to: 'cancelled', by: 'supervisor', patch: { cancel_reason: 'drift_resolved_auto' } },
  claim: { from: 'approved', to: 'running', by: 'executor', patch: {} },
};

function spin(us) {
  const end = process.hrtime.bigint() + BigInt(Math.floor(us * 1000));
  while (process.hrtime.bigint() < end);
}

process.on('message', async (msg) => {
  if (msg === 'exit') process.exit(0);
  const { trial, id, instance, jitterUs } = msg;
  spin(jitterUs);
  const move = MOVES[role];
  let ok = false;
  let error;
  try {
    await store.transition({ id, instance, ...move });
    ok = true;
  } catch (err) {
    if (!(err instanceof TransitionError)) error = String(err?.stack ?? err);
  }
  process.send({ trial, role, ok, error });
});
process.send({ ready: true });
