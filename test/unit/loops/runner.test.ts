// The Runner on a fake clock: intervals, kicks during a pass, backoff after failures, stop.
import { describe, expect, it } from 'vitest';
import { RefusedError, StorageFullError } from '../../../src/errors.js';
import { Runner } from '../../../src/loops/runner.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger } from '../../support/helpers.js';

describe('Runner', () => {
  it('runs at start, then every interval', async () => {
    const c = new FakeClock(0);
    const at: number[] = [];
    const r = new Runner('t', 30_000, async () => void at.push(c.now()), memoryLogger().log, c);
    r.start();
    await c.flush();
    await c.advance(29_999);
    expect(at).toEqual([0]);
    await c.advance(1);
    await c.advance(60_000);
    expect(at).toEqual([0, 30_000, 60_000, 90_000]);
    await r.stop();
    await c.advance(120_000);
    expect(at).toHaveLength(4);
  });

  it('kicks during a pass give exactly one more pass, right after', async () => {
    const c = new FakeClock(0);
    let passes = 0;
    let release: (() => void) | undefined;
    const r = new Runner('t', 30_000, async () => {
      passes++;
      if (passes === 1) await new Promise<void>((resolve) => (release = resolve));
    }, memoryLogger().log, c);
    r.start();
    await c.flush();
    r.kick();
    r.kick();
    r.hint();
    release!();
    await c.flush();
    expect(passes).toBe(2);
    // hint() also kicks once more shortly after (chokidar drops trailing changes).
    await c.advance(120);
    expect(passes).toBe(3);
    await r.stop();
  });

  it('backs off 1 s, 2 s, 4 s … after failures, never beyond the interval, and records the error code', async () => {
    const c = new FakeClock(0);
    const at: number[] = [];
    let fail = true;
    const errors = [new StorageFullError('/x', 'ENOSPC'), new RefusedError('no'), new Error('plain')];
    let i = 0;
    const r = new Runner('t', 5000, async () => {
      at.push(c.now());
      if (fail) throw errors[Math.min(i++, errors.length - 1)];
    }, memoryLogger().log, c);
    r.start();
    await c.flush();
    expect(r.status.lastErrorCode).toBe('storage_full');
    await c.advance(1000);
    expect(r.status.lastErrorCode).toBe('refused');
    await c.advance(2000);
    expect(r.status.lastErrorCode).toBe('error');
    await c.advance(4000);
    await c.advance(5000);
    expect(at).toEqual([0, 1000, 3000, 7000, 12_000]);
    expect(r.status.consecutiveFailures).toBe(5);
    fail = false;
    await c.advance(5000);
    expect(r.status).toMatchObject({ consecutiveFailures: 0, lastError: null, lastErrorCode: null, lastSuccessAt: 17_000 });
    await r.stop();
  });
});
