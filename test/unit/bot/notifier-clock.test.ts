// The notifier on a fake clock: a new pending action waits for a burst to settle, a burst becomes
// one group message per node, and nothing waits on a real timer.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Notifier } from '../../../src/bot/notifier.js';
import { Outbox } from '../../../src/bot/outbox.js';
import { ActionStore } from '../../../src/store/actions.js';
import { SupervisorState } from '../../../src/store/supervisor-state.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger, removeDir, tempDir, waitFor } from '../../support/helpers.js';

const T0 = Date.parse('2026-05-27T14:00:00.000Z');
let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-notifier-');
});
afterEach(async () => {
  await removeDir(dir);
});

async function setup() {
  const clock = new FakeClock(T0);
  const actions = new ActionStore(`${dir}/actions`, () => clock.now());
  await actions.ensureDirs();
  const supervisorState = new SupervisorState(`${dir}/state`);
  await supervisorState.ensureDirs();
  // Not started: what it would send is what its records say.
  const outbox = new Outbox({ dir: `${dir}/outbox`, transport: { sendMessage: async () => ({ message_id: 1 }), editMessageText: async () => {} }, log: memoryLogger().log, clock });
  await outbox.load();
  const syncs: Promise<void>[] = [];
  const notifier: Notifier = new Notifier({
    actions,
    supervisorState,
    outbox,
    chatId: '42',
    log: memoryLogger().log,
    now: () => clock.now(),
    later: (ms) => void clock.timer(ms, () => void syncs.push(notifier.sync())),
  });
  const draft = (node: string, service: string) => ({ id: `container-restart-${node}-${service}`, instance: '20260527T140000Z', type: 'container_restart' as const, risk: 'low' as const, node, service, drift: 'unhealthy_service' as const, trigger: 'containers_not_running', containers: [service], drift_since: null });
  return { clock, actions, outbox, notifier, syncs, draft };
}

describe('Notifier on a fake clock', () => {
  it('a new pending action is sent once the burst window settles (400 ms), not before', async () => {
    const { clock, actions, outbox, notifier, syncs, draft } = await setup();
    await actions.create(draft('n1', 'a'));
    await notifier.sync();
    expect(outbox.all()).toEqual([]);
    expect(clock.pending).toBe(1);
    await clock.advance(409);
    expect(outbox.all()).toEqual([]);
    await clock.advance(1);
    await waitFor(() => syncs.length === 1);
    await Promise.all(syncs);
    expect(outbox.all().map((r) => r.key)).toEqual(['action:container-restart-n1-a@20260527T140000Z']);
  });

  it('a burst of 5 on one node becomes one group message', async () => {
    const { clock, actions, outbox, notifier, syncs, draft } = await setup();
    for (const s of ['a', 'b', 'c', 'd', 'e']) {
      await actions.create(draft('n1', s));
      await clock.advance(50);
    }
    await notifier.sync();
    await clock.advance(1000);
    await waitFor(() => syncs.length >= 1);
    await Promise.all(syncs);
    const records = outbox.all();
    expect(records).toHaveLength(1);
    expect(records[0]!.meta).toMatchObject({ kind: 'group', node: 'n1' });
    expect(records[0]!.text).toMatch(/5/);
  });
});
