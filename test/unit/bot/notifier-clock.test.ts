// The notifier on a fake clock: a new pending action is handed to the outbox at once (no settle
// delay; at most EVIDENCE_WAIT_MS for its evidence); more than BURST_THRESHOLD in the chat within
// the burst window fold into one group message, which later ones join while the window is open; a
// burst of 12 on 3 nodes costs a group chat at most 6 of its 20 calls a minute.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { BURST_WINDOW_MS, Notifier } from '../../../src/bot/notifier.js';
import { actionKey, OpenTable } from '../../../src/bot/open-table.js';
import { Outbox } from '../../../src/bot/outbox.js';
import { RefTable } from '../../../src/bot/refs.js';
import { ActionStore } from '../../../src/store/actions.js';
import { SupervisorState } from '../../../src/store/supervisor-state.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';
import { runOutboxUntil } from '../../support/outbox-clock.js';

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

/** Moves the clock `ms` on under the running outbox (test/support/outbox-clock.ts). */
async function runFor(clock: FakeClock, outbox: Outbox, ms: number): Promise<void> {
  await runOutboxUntil(clock, outbox, clock.now() + ms);
}

/** A started outbox on a fake clock whose Bot API records every call: when, what, how many buttons. */
async function recordingChat(clock: FakeClock) {
  const actions = new ActionStore(`${dir}/actions`, () => clock.now());
  await actions.ensureDirs();
  const supervisorState = new SupervisorState(`${dir}/state`);
  await supervisorState.ensureDirs();
  const log = memoryLogger().log;
  const calls: { at: number; method: string; text: string; buttons: number }[] = [];
  let id = 0;
  const outbox = new Outbox({
    dir: `${dir}/outbox`,
    log,
    clock,
    transport: {
      sendMessage: async (_c, text, buttons) => {
        calls.push({ at: clock.now() - T0, method: 'send', text, buttons: buttons.flat().length });
        return { message_id: ++id };
      },
      editMessageText: async (_c, _m, text, buttons) => void calls.push({ at: clock.now() - T0, method: 'edit', text, buttons: buttons.flat().length }),
    },
  });
  await outbox.load();
  outbox.start();
  const refs = new RefTable(`${dir}/refs.json`, () => clock.now(), log);
  return { actions, supervisorState, log, calls, outbox, refs };
}

describe('Notifier on a fake clock', () => {
  it('a pass after a burst looks up the outbox for the new action only: one already messaged or grouped is known by its parsed object', async () => {
    const { actions, outbox, notifier, draft, kinds } = await setup();
    const first: string[] = [];
    for (let i = 0; i < 40; i++) first.push(actionKey((await actions.create(draft(`n${i % 4}`, `s${i}`)))!));
    await notifier.sync();
    expect(kinds()).toEqual(['group 40']);
    await actions.create(draft('n1', 'late'));
    const get = vi.spyOn(outbox, 'get');
    await notifier.sync();
    expect(kinds()).toEqual(['group 41']);
    expect(get.mock.calls.filter(([key]) => first.includes(key))).toEqual([]);
  });

  it('a group whose members did not change in the open actions is not looked at again, whatever else changed', async () => {
    const { clock, actions, outbox, notifier, draft, kinds } = await setup();
    actions.indexByHints();
    for (let i = 0; i < 40; i++) await actions.create(draft(`n${i % 4}`, `s${i}`));
    await notifier.sync();
    expect(kinds()).toEqual(['group 40']);
    const members = vi.spyOn(notifier, 'members');
    await notifier.sync();
    expect(members).not.toHaveBeenCalled();
    // An action of its own (after the burst window): the group's members are still not looked up.
    clock.advance(BURST_WINDOW_MS + 1);
    await actions.create(draft('n9', 'alone'));
    await notifier.sync();
    expect(kinds()).toEqual(['action', 'group 40']);
    expect(members).not.toHaveBeenCalled();
    // One of its members moves: looked up and rendered again.
    const group = outbox.all().find((r) => r.meta.kind === 'group')!;
    await actions.transition({ id: 'container-restart-n1-s1', from: 'pending', to: 'approved', by: 'test' });
    await notifier.sync();
    expect(members).toHaveBeenCalledTimes(1);
    expect(outbox.get(group.key)!.rev).toBeGreaterThan(group.rev);
  });

  it("the open actions' table, kept from listing to listing, is each listing's by key", () => {
    // In the store's order; an action moving between two directories is there twice for a moment
    // (two objects of one key, next to each other: the table holds the last).
    const objects = Array.from({ length: 16 }, (_, i) => ({ id: `a${(i % 3 === 1 ? i - 1 : i) % 8}`, instance: `i${i % 3 === 1 ? i - 1 : i}`, state: i % 3 === 1 ? 'approved' : 'pending' }) as Action);
    fc.assert(
      fc.property(fc.array(fc.subarray(objects), { minLength: 1, maxLength: 12 }), (listings) => {
        const table = new OpenTable();
        let before = new Map<string, Action>();
        for (const open of listings) {
          const generation = table.generation;
          const now = new Map(table.update(open));
          expect([...now].sort()).toEqual([...new Map(open.map((a) => [actionKey(a), a]))].sort());
          // What changed since the generation before, as the table tells it.
          const told = new Set((table.changedSince(generation) ?? []).flat());
          const keys = new Set([...before.keys(), ...now.keys()]);
          expect([...keys].filter((k) => before.get(k) !== now.get(k)).sort()).toEqual([...told].sort());
          before = now;
        }
      }),
      { numRuns: 500 },
    );
  });

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

  it('a burst seen in one pass becomes one group message for the chat, whatever the nodes', async () => {
    const { actions, notifier, draft, kinds, outbox } = await setup();
    for (const s of ['a', 'b', 'c', 'd', 'e']) await actions.create(draft('n1', s));
    await actions.create(draft('n2', 'x'));
    await notifier.sync();
    expect(kinds()).toEqual(['group 6']);
    expect(outbox.all().find((r) => r.meta.kind === 'group')!.text).toMatch(/6 actions on n1, n2/);
  });

  it('a group is rendered again only when one of its actions moved', async () => {
    const { actions, notifier, draft, outbox } = await setup();
    for (const s of ['a', 'b', 'c', 'd', 'e']) await actions.create(draft('n1', s));
    await notifier.sync();
    const upserts: string[] = [];
    const upsert = outbox.upsert.bind(outbox);
    outbox.upsert = async (key, r) => {
      upserts.push(key);
      return upsert(key, r);
    };
    await notifier.sync();
    await notifier.sync();
    expect(upserts.filter((k) => k.startsWith('group'))).toEqual([]);
    await actions.transition({ id: 'container-restart-n1-c', from: 'pending', to: 'rejected', by: 'cli:x' });
    await notifier.sync();
    expect(upserts.filter((k) => k.startsWith('group'))).toHaveLength(1);
    expect(outbox.all().find((r) => r.meta.kind === "group")!.text).toMatch(/container-restart-n1-c<\/code> \(low\): 🚫 <b>Rejected/);
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

  it('an action\'s own message waits up to 300 ms for its evidence: one send with it, no edit for it', async () => {
    const { clock, actions, outbox, draft } = await setup();
    const log = memoryLogger().log;
    const refs = new RefTable(`${dir}/refs2.json`, () => clock.now(), log);
    let stored = false;
    let woken = 0;
    const evidence = async () => (stored ? ({ version: 1, id: 'x', instance: 'i', node: 'n1', service: 'a', collected_at: new Date(clock.now()).toISOString(), containers: [], error: 'cannot reach n1' } as never) : undefined);
    const notifier = new Notifier({ actions, supervisorState: new SupervisorState(`${dir}/state`), outbox, refs, chatId: '42', log, now: () => clock.now(), clock, wake: () => void woken++, evidence });
    await actions.create(draft('n1', 'a'));
    await notifier.sync();
    expect(outbox.all()).toEqual([]);
    await clock.advance(120);
    stored = true;
    await notifier.sync();
    expect(outbox.all().map((r) => r.text)).toEqual([expect.stringContaining('🔎 cannot reach n1')]);
    // Without evidence, it goes when the wait is over (the notifier is woken for it).
    await actions.create(draft('n1', 'b'));
    stored = false;
    await notifier.sync();
    expect(outbox.all()).toHaveLength(1);
    await clock.advance(300);
    expect(woken).toBeGreaterThan(0);
    await notifier.sync();
    expect(outbox.all()).toHaveLength(2);
  });

  it('a burst of 12 on 3 nodes: every action visible within 10 s for at most 6 calls; an answer then goes within 1 s', async () => {
    const clock = new FakeClock(T0);
    const { actions, supervisorState, log, calls, outbox, refs } = await recordingChat(clock);
    let passes = 0;
    const notifier = new Notifier({ actions, supervisorState, outbox, refs, chatId: '-1001', log, now: () => clock.now(), clock, wake: () => void passes++, evidence: async () => undefined });
    // The supervisor proposes them over 1.2 s, one pass each (the worst case: no pass sees two).
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const node = `n${i % 3}`;
      const a = await actions.create({ id: `container-restart-${node}-s${i}`, instance: '20260527T140000Z', type: 'container_restart', risk: 'low', node, service: `s${i}`, drift: 'unhealthy_service', trigger: 'containers_not_running', containers: [`s${i}`], drift_since: null });
      ids.push(a!.id);
      await notifier.sync();
      await runFor(clock, outbox, 100);
    }
    // Passes go on as the loop runs them (every time it is woken, and on its interval).
    for (let t = 0; t < 10_000; t += 250) {
      await notifier.sync();
      await runFor(clock, outbox, 250);
    }
    await outbox.whenIdle();
    const visible = (x: string) => calls.some((c) => c.text.includes(x));
    for (const x of ids) expect(visible(x), x).toBe(true);
    expect(calls.filter((c) => c.at <= 10_000).length).toBeLessThanOrEqual(6);
    // Proposed within the evidence wait of each other, they fold at once: one group message.
    expect(calls.filter((c) => c.method === 'send').map((c) => c.text)).toEqual([expect.stringMatching(/actions on n0, n1, n2/)]);
    // The background lanes of the minute are mostly left; an answer goes at once.
    await outbox.upsert('reply:1', { chatId: '-1001', text: 'status', buttons: [], meta: { kind: 'reply', final: true }, urgent: true });
    const asked = clock.now() - T0;
    await runFor(clock, outbox, 1000);
    await outbox.whenIdle();
    expect(calls.at(-1)!.text).toBe('status');
    expect(calls.at(-1)!.at - asked).toBeLessThanOrEqual(1000);
    await outbox.stop();
  }, 30_000);

  it('after Cancel all, the decided messages lose their buttons within 5 s, before queued background calls', async () => {
    const clock = new FakeClock(T0);
    const { actions, supervisorState, log, calls, outbox, refs } = await recordingChat(clock);
    const notifier = new Notifier({ actions, supervisorState, outbox, refs, chatId: '-1001', log, now: () => clock.now() });
    const created = [];
    for (let i = 0; i < 6; i++) created.push((await actions.create({ id: `container-restart-n${i % 3}-s${i}`, instance: '20260527T140000Z', type: 'container_restart', risk: 'low', node: `n${i % 3}`, service: `s${i}`, drift: 'unhealthy_service', trigger: 'containers_not_running', containers: [`s${i}`], drift_since: null }))!);
    await notifier.sync();
    await runFor(clock, outbox, 2000);
    await outbox.whenIdle();
    const group = calls.find((c) => c.method === 'send')!;
    expect(group.buttons).toBeGreaterThan(0);
    // The minute's background calls are spent: 20 notices queue.
    for (let i = 0; i < 20; i++) await outbox.upsert(`notice:${i}`, { chatId: '-1001', text: `notice ${i}`, buttons: [], meta: { kind: 'notice', notice: `n${i}`, node: 'n1', final: true } });
    await runFor(clock, outbox, 100);
    const before = calls.length;
    // Cancel all (what the recover menu's press does to the files), then the notifier renders them as its answer.
    const decided = [];
    for (const a of created) decided.push(await actions.transition({ id: a.id, from: 'pending', to: 'cancelled', instance: a.instance, by: 'test', patch: { cancel_reason: 'cancelled_by_operator' } }));
    const pressed = clock.now();
    await notifier.renderDecided(decided);
    await runFor(clock, outbox, 5000);
    const removal = calls.slice(before).find((c) => c.method === 'edit' && c.text.includes('actions on'));
    expect(removal, JSON.stringify(calls.slice(before).map((c) => c.text.slice(0, 30)))).toBeDefined();
    expect(removal!.buttons).toBe(0);
    expect(removal!.at - (pressed - T0)).toBeLessThanOrEqual(5000);
    // Notices were still waiting behind it.
    expect(outbox.pending().some((r) => r.key.startsWith('notice:'))).toBe(true);
    await outbox.stop();
  }, 30_000);
});
