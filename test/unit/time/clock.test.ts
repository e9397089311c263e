import { describe, expect, it } from 'vitest';
import { backoffDelay, withRetries } from '../../../src/time/backoff.js';
import { FakeClock } from '../../../src/time/clock.js';

describe('FakeClock', () => {
  it('runs timers and sleeps in time order only when advanced; cancel and abort work', async () => {
    const c = new FakeClock(1000);
    const seen: string[] = [];
    c.timer(300, () => seen.push('b@300'));
    c.timer(100, () => seen.push('a@100'));
    const cancel = c.timer(200, () => seen.push('never'));
    cancel();
    const slept = c.sleep(250).then(() => seen.push(`slept@${c.now() - 1000}`));
    const abort = new AbortController();
    const aborted = c.sleep(10_000, abort.signal).then(() => seen.push(`aborted@${c.now() - 1000}`));
    expect(c.pending).toBe(4);
    await c.advance(99);
    expect(seen).toEqual([]);
    await c.advance(201);
    expect(seen).toEqual(['a@100', 'slept@250', 'b@300']);
    abort.abort();
    await aborted;
    expect(seen.at(-1)).toBe('aborted@300');
    expect(c.pending).toBe(0);
    await slept;
  });
});

describe('backoff', () => {
  it('doubles from the initial delay up to the cap; jitter stays within its band', () => {
    const p = { initialMs: 1000, maxMs: 8000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(n, p))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, { initialMs: 1000, maxMs: 60_000, jitter: 0.5 });
      expect(d).toBeGreaterThanOrEqual(3000);
      expect(d).toBeLessThanOrEqual(5000);
    }
  });

  it('withRetries waits by the policy, honours a retry-after, stops on a final error or an abort', async () => {
    const c = new FakeClock(0);
    const at: number[] = [];
    const p = withRetries(
      async (n) => {
        at.push(c.now());
        if (n === 1) throw new Error('down');
        if (n === 2) throw Object.assign(new Error('slow down'), { retryAfterMs: 5000 });
        if (n < 4) throw new Error('down');
        return 'ok';
      },
      { clock: c, policy: { initialMs: 100, maxMs: 1000, jitter: 0 }, isRetryable: (e) => ((e as { retryAfterMs?: number }).retryAfterMs ? { afterMs: (e as { retryAfterMs: number }).retryAfterMs } : true) },
    );
    await c.advance(10_000);
    expect(await p).toBe('ok');
    expect(at).toEqual([0, 100, 5100, 5500]);

    const final = withRetries(async () => Promise.reject(new Error('no')), { clock: c, isRetryable: () => false });
    await expect(final).rejects.toThrow('no');

    const abort = new AbortController();
    const forever = withRetries(async () => Promise.reject(new Error('down')), { clock: c, isRetryable: () => true, signal: abort.signal });
    await c.advance(5000);
    abort.abort();
    await expect(forever).rejects.toThrow('down');
  });
});
