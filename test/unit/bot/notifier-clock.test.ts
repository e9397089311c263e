// The notifier on a fake clock: a new pending action is handed to the outbox at once (no settle
// delay); more than BURST_THRESHOLD on one node within the burst window fold into one group
// message, which later ones join while the window is open.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BURST_WINDOW_MS, Notifier } from '../../../src/bot/notifier.js';
import { Outbox } from '../../../src/bot/outbox.js';
import { RefTable } from '../../../src/bot/refs.js';
import { ActionStore } from '../../../src/store/actions.js';
import { SupervisorState } from '../../../src/store/supervisor-state.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';

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
  const log = memoryLogger().log;
  // Not started: what it would send is what its records say.
  const outbox = new Outbox({ dir: `${dir}/outbox`, transport: { sendMessage: async () => ({ message_id: 1 }), editMessageText: async () => {} }, log, clock });
  await outbox.load();
  const refs = new RefTable(`${dir}/refs.json`, () => clock.now(), log);
  const notifier = new Notifier({ actions, supervisorState, outbox, refs, chatId: '42', log, now: () => clock.now() });
  const draft = (node: string, service: string) => ({ id: `container-restart-${node}-${service}`, instance: '20260527T140000Z', type: 'container_restart' as const, risk: 'low' as const, node, service, drift: 'unhealthy_service' as const, trigger: 'containers_not_running', containers: [service], drift_since: null });
  const kinds = () => outbox.all().map((r) => (r.meta.kind === 'group' ? `group ${r.meta.members.length}` : r.meta.kind)).sort();
  return { clock, actions, outbox, notifier, draft, kinds };
}

describe('Notifier on a fake clock', () => {
  it('a new pending action is handed to the outbox at once, with no timer waiting', async () => {
    const { clock, actions, outbox, notifier, draft } = await setup();
    await actions.create(draft('n1', 'a'));
    await notifier.sync();
    expect(outbox.all().map((r) => r.key)).toEqual(['action:container-restart-n1-a@20260527T140000Z']);
    expect(outbox.lane(outbox.all()[0]!)).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it('one at a time: the first three get a message each, the fourth starts a group, the fifth joins it', async () => {
    const { clock, actions, notifier, draft, kinds } = await setup();
    for (const s of ['a', 'b', 'c', 'd', 'e']) {
      await actions.create(draft('n1', s));
      await notifier.sync();
      await clock.advance(50);
    }
    expect(kinds()).toEqual(['action', 'action', 'action', 'group 2']);
  });

  it('a burst of 5 seen in one pass becomes one group message; another node is not held up', async () => {
    const { actions, notifier, draft, kinds, outbox } = await setup();
    for (const s of ['a', 'b', 'c', 'd', 'e']) await actions.create(draft('n1', s));
    await actions.create(draft('n2', 'x'));
    await notifier.sync();
    expect(kinds()).toEqual(['action', 'group 5']);
    expect(outbox.all().find((r) => r.meta.kind === 'group')!.text).toMatch(/5 actions on n1/);
  });

  it('after the burst window a new action gets its own message again', async () => {
    const { clock, actions, notifier, draft, kinds } = await setup();
    for (const s of ['a', 'b', 'c', 'd']) await actions.create(draft('n1', s));
    await notifier.sync();
    await clock.advance(BURST_WINDOW_MS + 1);
    await actions.create(draft('n1', 'z'));
    await notifier.sync();
    expect(kinds()).toEqual(['action', 'group 4']);
  });
});
