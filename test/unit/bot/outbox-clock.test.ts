// The outbox on a fake clock: each chat's sliding window, the priority lanes and the reserve for
// answers, Telegram's retry_after, the backoff after failures, the 403 probe, and edits of one
// message collapsing — all without waiting.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, type TelegramTransport } from '../../../src/bot/outbox.js';
import type { Meta } from '../../../src/store/outbox-files.js';
import { GROUP_RULE, PRIVATE_RULE, SlidingWindow, TokenBucket } from '../../../src/bot/rate-window.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';
import { runOutboxUntil } from '../../support/outbox-clock.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-outbox-');
});
afterEach(async () => {
  await removeDir(dir);
});

const T0 = Date.parse('2026-05-27T14:00:00.000Z');
const reply: Meta = { kind: 'reply', final: true };
const action = (id: string): Meta => ({ kind: 'action', id, instance: 'i1', final: false });
const notice: Meta = { kind: 'notice', notice: 'n', node: 'n1', final: false };

/** Moves the clock to T0 + `ms` under the running outbox (test/support/outbox-clock.ts). */
async function runFor(clock: FakeClock, o: Outbox, ms: number): Promise<void> {
  await runOutboxUntil(clock, o, T0 + ms);
}

function recording(clock: FakeClock, fail: (n: number) => unknown = () => undefined) {
  const calls: { at: number; method: string; chat: string; text: string; id?: number }[] = [];
  let n = 0;
  const transport: TelegramTransport = {
    async sendMessage(chat, text) {
      calls.push({ at: clock.now(), method: 'send', chat, text });
      const err = fail(++n);
      if (err) throw err;
      return { message_id: n };
    },
    async editMessageText(chat, id, text) {
      calls.push({ at: clock.now(), method: 'edit', chat, text, id });
      const err = fail(++n);
      if (err) throw err;
    },
  };
  return { transport, calls };
}

async function outbox(clock: FakeClock, transport: TelegramTransport) {
  const mem = memoryLogger();
  const o = new Outbox({ dir, transport, log: mem.log, clock });
  await o.load();
  o.start();
  return { o, mem };
}

describe('SlidingWindow', () => {
  it('allows 20 in any 60 s in a group, lane 1 all of them, background lanes 15', () => {
    const w = new SlidingWindow(GROUP_RULE);
    for (let i = 0; i < 15; i++) {
      expect(w.readyAt(T0 + i, 3)).toBe(T0 + i);
      w.record(T0 + i);
    }
    // The background lanes leave the reserve alone: their next call waits for the oldest to expire.
    expect(w.readyAt(T0 + 20, 2)).toBe(T0 + 60_000);
    for (let i = 0; i < 5; i++) {
      expect(w.readyAt(T0 + 100 + i, 1)).toBe(T0 + 100 + i);
      w.record(T0 + 100 + i);
    }
    expect(w.readyAt(T0 + 200, 1)).toBe(T0 + 60_000);
    expect(w.used(T0 + 60_000)).toBe(19);
  });
});

describe('TokenBucket', () => {
  it('a private chat: bursts of 3, 1/s on average; background lanes keep one call for answers and still get 1/s', () => {
    const b = new TokenBucket(PRIVATE_RULE);
    expect(b.readyAt(T0, 2)).toBe(T0);
    b.record(T0);
    expect(b.readyAt(T0, 2)).toBe(T0);
    b.record(T0);
    // One token left: only an answer may take it.
    expect(b.readyAt(T0, 3)).toBe(T0 + 1000);
    expect(b.readyAt(T0, 1)).toBe(T0);
    b.record(T0);
    expect(b.readyAt(T0, 1)).toBe(T0 + 1000);
    // A steady background call a second, forever, leaves the reserve alone.
    const steady = new TokenBucket(PRIVATE_RULE);
    for (let i = 0; i < 100; i++) {
      expect(steady.readyAt(T0 + i * 1000, 2)).toBe(T0 + i * 1000);
      steady.record(T0 + i * 1000);
      expect(steady.readyAt(T0 + i * 1000, 1)).toBe(T0 + i * 1000);
    }
  });
});

describe('Outbox on a fake clock', () => {
  it('private chat: bursts of 3, then about one a second; a group: 15 background calls, then waits for the window', async () => {
    const clock = new FakeClock(T0);
    const { transport, calls } = recording(clock);
    const { o } = await outbox(clock, transport);
    for (const k of ['a', 'b', 'c', 'd', 'e']) await o.upsert(k, { chatId: '42', text: k, buttons: [], meta: reply });
    for (let i = 0; i < 17; i++) await o.upsert(`g${i}`, { chatId: '-100', text: `g${i}`, buttons: [], meta: action(`g${i}`) });
    await runFor(clock, o, 70_000);
    // Private: a burst of 3, then one a second.
    expect(calls.filter((c) => c.chat === '42').map((c) => c.at - T0)).toEqual([0, 0, 0, 1000, 2000]);
    // Group: 15 new action messages at once (5 of the 20 stay for answers), the rest a minute later.
    const group = calls.filter((c) => c.chat === '-100').map((c) => c.at - T0);
    expect(group.slice(0, 15)).toEqual(Array(15).fill(0));
    expect(group.slice(15)).toEqual([60_000, 60_000]);
    await o.stop();
  });

  it('lanes: an answer goes first and at once in a group with 50 queued edits; new actions before edits before notices', async () => {
    const clock = new FakeClock(T0);
    const { transport, calls } = recording(clock);
    const { o } = await outbox(clock, transport);
    // 50 messages already in the chat, each with a change waiting to be edited in.
    for (let i = 0; i < 50; i++) await o.upsert(`e${i}`, { chatId: '-100', text: `e${i}`, buttons: [], meta: action(`e${i}`) });
    await runFor(clock, o, 10 * 60_000);
    expect(o.pending()).toEqual([]);
    const before = calls.length;
    // (Stopped while the changes are made, so they are all queued when it looks.)
    await o.stop();
    for (let i = 0; i < 50; i++) await o.upsert(`e${i}`, { chatId: '-100', text: `e${i} changed`, buttons: [], meta: action(`e${i}`) });
    await o.upsert('notice', { chatId: '-100', text: 'a notice', buttons: [], meta: notice });
    await o.upsert('new', { chatId: '-100', text: 'a new action', buttons: [], meta: action('new') });
    o.start();
    await runFor(clock, o, 10 * 60_000 + 30_000);
    // The background lanes used 15 of the window; a command now is answered at once from the reserve.
    await o.upsert('reply', { chatId: '-100', text: 'status', buttons: [], meta: reply, urgent: true });
    await runFor(clock, o, 10 * 60_000 + 30_001);
    const after = calls.slice(before);
    const replyCall = after.find((c) => c.text === 'status')!;
    expect(replyCall.at - T0).toBe(10 * 60_000 + 30_000);
    // Order: the new action message first, then the edits; the notice last.
    expect(after[0]!.text).toBe('a new action');
    expect(after.filter((c) => c.method === 'edit' && c.at - T0 <= 10 * 60_000).length).toBe(14);
    await runFor(clock, o, 20 * 60_000);
    expect(calls.slice(before).at(-1)!.text).toBe('a notice');
    expect(o.pending()).toEqual([]);
    await o.stop();
  });

  it('collapses several changes of one message into one edit', async () => {
    const clock = new FakeClock(T0);
    const { transport, calls } = recording(clock);
    const { o } = await outbox(clock, transport);
    await o.upsert('a', { chatId: '42', text: 'v1', buttons: [], meta: action('a') });
    await runFor(clock, o, 10_000);
    await o.stop();
    for (const v of ['v2', 'v3', 'v4']) await o.upsert('a', { chatId: '42', text: v, buttons: [], meta: action('a') });
    o.start();
    await runFor(clock, o, 20_000);
    expect(calls.map((c) => `${c.method} ${c.text}`)).toEqual(['send v1', 'edit v4']);
    await o.stop();
  });

  it('edits within 1 s of the last delivery are one edit (completed, then verified: one edit); an answer to a press is not held', async () => {
    const clock = new FakeClock(T0);
    const { transport, calls } = recording(clock);
    const { o } = await outbox(clock, transport);
    await o.upsert('a', { chatId: '-100', text: 'pending', buttons: [], meta: action('a') });
    await runFor(clock, o, 100);
    await o.upsert('a', { chatId: '-100', text: 'completed', buttons: [], meta: action('a') });
    await runFor(clock, o, 110);
    await o.upsert('a', { chatId: '-100', text: 'completed, verified', buttons: [], meta: action('a') });
    await runFor(clock, o, 5000);
    expect(calls.map((c) => `${c.at - T0} ${c.method} ${c.text}`)).toEqual(['0 send pending', '1000 edit completed, verified']);
    // A press answered: the edit goes at once.
    await o.upsert('a', { chatId: '-100', text: 'pressed', buttons: [], meta: action('a'), urgent: true });
    await runFor(clock, o, 5000);
    expect(calls.at(-1)).toMatchObject({ at: T0 + 5000, method: 'edit', text: 'pressed' });
    await o.stop();
  });

  it('waits exactly as long as a 429 says, then delivers once', async () => {
    const clock = new FakeClock(T0);
    const { transport, calls } = recording(clock, (n) => (n === 1 ? Object.assign(new Error('Too Many Requests'), { error_code: 429, description: 'Too Many Requests: retry after 7', parameters: { retry_after: 7 } }) : undefined));
    const { o } = await outbox(clock, transport);
    await o.upsert('a', { chatId: '42', text: 'hello', buttons: [], meta: reply });
    await runFor(clock, o, 6999);
    expect(calls.map((c) => c.at - T0)).toEqual([0]);
    await runFor(clock, o, 7000);
    await o.whenIdle();
    expect(calls.map((c) => c.at - T0)).toEqual([0, 7000]);
    expect(o.pending()).toEqual([]);
    expect(o.stats).toMatchObject({ sent: 1, rate_limited: 1 });
    await o.stop();
  });

  it('stalledForMs (the heartbeat reads it): a message held by a failing Telegram counts from its queueing, on the monotonic clock; one waiting as a 429 asked does not', async () => {
    const clock = new FakeClock(T0);
    const { transport } = recording(clock, () => Object.assign(new Error('Bad Gateway'), { error_code: 502, description: 'Bad Gateway' }));
    const { o } = await outbox(clock, transport);
    expect(o.stalledForMs()).toBeUndefined();
    await o.upsert('a', { chatId: '42', text: 'hello', buttons: [], meta: reply });
    await runFor(clock, o, 3000);
    expect(o.stalledForMs()).toBe(3000);
    // A step of the wall clock, either way, changes nothing: it has waited 3 s more, not an hour.
    clock.jump(3_600_000);
    expect(o.stalledForMs()).toBe(3000);
    await runOutboxUntil(clock, o, T0 + 3_600_000 + 6000);
    expect(o.stalledForMs()).toBe(6000);
    clock.jump(-7_200_000);
    expect(o.stalledForMs()).toBe(6000);
    await o.stop();
    const clock2 = new FakeClock(T0);
    const limited = recording(clock2, () => Object.assign(new Error('Too Many Requests'), { error_code: 429, description: 'Too Many Requests: retry after 600', parameters: { retry_after: 600 } }));
    const second = await outbox(clock2, limited.transport);
    await second.o.upsert('b', { chatId: '43', text: 'hello', buttons: [], meta: reply });
    await runOutboxUntil(clock2, second.o, T0 + 3000);
    expect(second.o.stalledForMs()).toBeUndefined();
    await second.o.stop();
  });

  it('a step of the wall clock back holds nothing: a backoff under way, and an edit right after a delivery, go on the monotonic clock', async () => {
    const clock = new FakeClock(T0);
    const { transport, calls } = recording(clock, (n) => (n <= 2 ? Object.assign(new Error('Bad Gateway'), { error_code: 502, description: 'Bad Gateway' }) : undefined));
    const { o } = await outbox(clock, transport);
    await o.upsert('a', { chatId: '42', text: 'hello', buttons: [], meta: { kind: 'reply', final: false } });
    await runFor(clock, o, 100); // the first call failed: a backoff of 0.5 s runs
    clock.jump(-3_600_000);
    const back = clock.now();
    await runOutboxUntil(clock, o, back + 2000);
    expect(calls.filter((c) => c.method === 'send')).toHaveLength(3);
    expect(o.pending()).toEqual([]);
    // Delivered a moment ago (by the clock before the next step): the edit waits its 1 s and the
    // chat's window (a private chat: about one call a second), not an hour.
    await o.upsert('a', { chatId: '42', text: 'hello again', buttons: [], meta: { kind: 'reply', final: true } });
    clock.jump(-3_600_000);
    await runOutboxUntil(clock, o, clock.now() + 3000);
    expect(calls.map((c) => c.method)).toContain('edit');
    expect(o.pending()).toEqual([]);
    await o.stop();
  });

  it('backs off 0.5 s, 1 s, 2 s … while Telegram is down, and loses nothing', async () => {
    const clock = new FakeClock(T0);
    const down = (n: number) => (n <= 4 ? Object.assign(new Error('Bad Gateway'), { error_code: 502, description: 'Bad Gateway' }) : undefined);
    const { transport, calls } = recording(clock, down);
    const { o } = await outbox(clock, transport);
    await o.upsert('a', { chatId: '42', text: 'hello', buttons: [], meta: reply });
    await runFor(clock, o, 60_000);
    await o.whenIdle();
    expect(calls.map((c) => c.at - T0)).toEqual([0, 500, 1500, 3500, 7500]);
    expect(o.pending()).toEqual([]);
    expect(o.stats).toMatchObject({ sent: 1, retries: 4 });
    await o.stop();
  });

  it('403: one probe at a time with backoff up to 10 min, nothing dropped, health says unavailable; back, everything is sent', async () => {
    const clock = new FakeClock(T0);
    let blocked = true;
    const { transport, calls } = recording(clock, () => (blocked ? Object.assign(new Error('Forbidden'), { error_code: 403, description: 'Forbidden: bot was blocked by the user' }) : undefined));
    const { o, mem } = await outbox(clock, transport);
    for (const k of ['a', 'b', 'c']) await o.upsert(k, { chatId: '42', text: k, buttons: [], meta: action(k) });
    await runFor(clock, o, 60 * 60_000);
    expect(o.health).toMatchObject({ state: 'unavailable', reason: 'Forbidden: bot was blocked by the user' });
    const gaps = calls.slice(1).map((c, i) => c.at - calls[i]!.at);
    expect(gaps.slice(0, 4)).toEqual([5000, 10_000, 20_000, 40_000]);
    expect(Math.max(...gaps)).toBe(10 * 60_000);
    expect(mem.text().match(/the Telegram chat is unavailable/g)).toHaveLength(1);
    expect(o.pending()).toHaveLength(3);
    blocked = false;
    await runFor(clock, o, 80 * 60_000);
    expect(o.pending()).toEqual([]);
    expect(o.health.state).toBe('ok');
    await o.stop();
  });

  it('a message about an open decision is never given up: refused even as plain text, kept and tried again with backoff; a reply is given up', async () => {
    const clock = new FakeClock(T0);
    let refuse = 4;
    const { transport, calls } = recording(clock, () => (refuse-- > 0 ? Object.assign(new Error('Bad Request'), { error_code: 400, description: 'Bad Request: PEER_ID_INVALID' }) : undefined));
    const { o, mem } = await outbox(clock, transport);
    await o.upsert('a', { chatId: '42', text: 'decide', buttons: [], meta: action('a') });
    await runFor(clock, o, 10 * 60_000);
    await o.whenIdle();
    // HTML, plain, then again after 30 s and 60 s: delivered on the fifth call.
    expect(calls.map((c) => c.at - T0)).toEqual([0, 0, 30_000, 90_000, 210_000]);
    expect(o.pending()).toEqual([]);
    expect(o.get('a')).toMatchObject({ delivered_rev: 1, last_error: null, retry_at: null });
    expect(mem.text()).toMatch(/about an open decision, so it is kept and tried again in 30 s \(attempt 1\)/);
    expect(mem.text()).not.toMatch(/given up/);
    // A reply refused twice is given up, said once.
    refuse = 2;
    await o.upsert('r', { chatId: '42', text: 'hi', buttons: [], meta: reply });
    await runFor(clock, o, 20 * 60_000);
    await o.whenIdle();
    expect(mem.text().match(/this message is given up/g)).toHaveLength(1);
    await o.stop();
  });

  it('a change saved while its send is under way never leaves an older record on disk (no duplicate after a restart)', async () => {
    const { readFile } = await import('node:fs/promises');
    const { writeJsonAtomic } = await import('../../../src/store/atomic.js');
    const clock = new FakeClock(T0);
    let o!: Outbox;
    let changed: Promise<boolean> | undefined;
    const transport: TelegramTransport = {
      async sendMessage() {
        // The notifier changes the message while it is being sent (its own flow: not awaited here).
        // Only its bookkeeping changes (the action ended: final), so no new delivery follows.
        changed = o.upsert('a', { chatId: '42', text: 'v1', buttons: [], meta: { ...action('a'), final: true } });
        return { message_id: 7 };
      },
      async editMessageText() {},
    };
    // A slow disk for the record written while the send is under way: its write ends last.
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    };
    const writeRecord = async (file: string, rec: import('../../../src/store/outbox-files.js').OutRecord) => {
      if (rec.in_flight_since && rec.meta.final) await turns(50);
      await writeJsonAtomic(file, rec);
    };
    const mem = memoryLogger();
    o = new Outbox({ dir, transport, log: mem.log, clock, writeRecord });
    await o.load();
    o.start();
    await o.upsert('a', { chatId: '42', text: 'v1', buttons: [], meta: action('a') });
    await runFor(clock, o, 5000);
    await changed;
    await runFor(clock, o, 10_000);
    await o.whenIdle();
    await o.stop();
    const files = (await import('node:fs/promises')).readdir(dir);
    const onDisk = await Promise.all((await files).filter((n) => n.endsWith('.json')).map(async (n) => JSON.parse(await readFile(`${dir}/${n}`, 'utf8'))));
    expect(onDisk).toHaveLength(1);
    expect(onDisk[0]).toMatchObject({ message_id: 7, in_flight_since: null, text: 'v1', meta: { final: true } });
    // The next start sends nothing again.
    const again = new Outbox({ dir, transport, log: mem.log, clock });
    await again.load();
    expect(again.get('a')).toMatchObject({ message_id: 7 });
    expect(mem.text()).not.toMatch(/sending it again, marked/);
  });
});
