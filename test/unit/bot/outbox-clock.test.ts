// The outbox on a fake clock: the pace per chat, Telegram's retry_after, the backoff after
// failures, all without waiting.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, type TelegramTransport } from '../../../src/bot/outbox.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger, removeDir, tempDir, waitFor } from '../../support/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-outbox-');
});
afterEach(async () => {
  await removeDir(dir);
});

const T0 = Date.parse('2026-05-27T14:00:00.000Z');

/**
 * Moves the clock to T0 + `ms`, one timer at a time, each time first waiting until the outbox
 * has parked on the clock again (its file writes are real and take their own time).
 */
async function runFor(clock: FakeClock, o: Outbox, ms: number): Promise<void> {
  const end = T0 + ms;
  for (;;) {
    await waitFor(() => clock.pending > 0 || o.pending().length === 0, { what: 'the outbox to wait on the clock' });
    const next = clock.nextAt;
    if (next === undefined || next > end) break;
    await clock.set(next);
  }
  await clock.set(end);
}

function recording(clock: FakeClock, fail: (n: number) => unknown = () => undefined) {
  const calls: { at: number; method: string; chat: string; text: string }[] = [];
  let n = 0;
  const transport: TelegramTransport = {
    async sendMessage(chat, text) {
      calls.push({ at: clock.now(), method: 'send', chat, text });
      const err = fail(++n);
      if (err) throw err;
      return { message_id: n };
    },
    async editMessageText(chat, _id, text) {
      calls.push({ at: clock.now(), method: 'edit', chat, text });
      const err = fail(++n);
      if (err) throw err;
    },
  };
  return { transport, calls };
}

describe('Outbox on a fake clock', () => {
  it('keeps 1 s between calls to a private chat and 3 s in a group; chats do not wait for each other', async () => {
    const clock = new FakeClock(T0);
    const { transport, calls } = recording(clock);
    const o = new Outbox({ dir, transport, log: memoryLogger().log, clock });
    await o.load();
    o.start();
    for (const k of ['a', 'b', 'c']) await o.upsert(k, { chatId: '42', text: k, buttons: [] });
    for (const k of ['g1', 'g2']) await o.upsert(k, { chatId: '-100', text: k, buttons: [] });
    await runFor(clock, o, 10_000);
    expect(calls.filter((c) => c.chat === '42').map((c) => c.at - T0)).toEqual([0, 1000, 2000]);
    expect(calls.filter((c) => c.chat === '-100').map((c) => c.at - T0)).toEqual([0, 3000]);
    await o.stop();
  });

  it('waits exactly as long as a 429 says, then delivers once', async () => {
    const clock = new FakeClock(T0);
    const { transport, calls } = recording(clock, (n) => (n === 1 ? Object.assign(new Error('Too Many Requests'), { error_code: 429, description: 'Too Many Requests: retry after 7', parameters: { retry_after: 7 } }) : undefined));
    const o = new Outbox({ dir, transport, log: memoryLogger().log, clock });
    await o.load();
    o.start();
    await o.upsert('a', { chatId: '42', text: 'hello', buttons: [] });
    await runFor(clock, o, 6999);
    expect(calls.map((c) => c.at - T0)).toEqual([0]);
    await runFor(clock, o, 7000);
    await o.whenIdle();
    expect(calls.map((c) => c.at - T0)).toEqual([0, 7000]);
    expect(o.pending()).toEqual([]);
    expect(o.stats).toMatchObject({ sent: 1, rate_limited: 1 });
    await o.stop();
  });

  it('backs off 0.5 s, 1 s, 2 s … while Telegram is down, and loses nothing', async () => {
    const clock = new FakeClock(T0);
    const down = (n: number) => (n <= 4 ? Object.assign(new Error('Bad Gateway'), { error_code: 502, description: 'Bad Gateway' }) : undefined);
    const { transport, calls } = recording(clock, down);
    const o = new Outbox({ dir, transport, log: memoryLogger().log, clock });
    await o.load();
    o.start();
    await o.upsert('a', { chatId: '42', text: 'hello', buttons: [] });
    await runFor(clock, o, 60_000);
    await o.whenIdle();
    // The chat's pace (1 s) and the backoff (0.5 s, 1 s, 2 s, 4 s): whichever is later.
    expect(calls.map((c) => c.at - T0)).toEqual([0, 1000, 2000, 4000, 8000]);
    expect(o.pending()).toEqual([]);
    expect(o.stats).toMatchObject({ sent: 1, retries: 4 });
    await o.stop();
  });
});
