// The Runner on a fake clock: intervals, kicks during a pass, backoff after failures, stop.
import { describe, expect, it } from 'vitest';
import { ConfigError, EngineError, RefusedError, StorageFullError } from '../../../src/errors.js';
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

  it('runs when its own state says a time falls due before the interval ends (at least 1 s apart)', async () => {
    const c = new FakeClock(0);
    const at: number[] = [];
    // Due 5 s after each pass, then nothing, then a time already past.
    const dues = [5_000, Infinity, -1];
    let due = Infinity;
    const r = new Runner('t', 30_000, async () => {
      at.push(c.now());
      due = c.now() + (dues.shift() ?? Infinity);
    }, memoryLogger().log, c, () => due);
    r.start();
    await c.flush();
    await c.advance(4_999);
    expect(at).toEqual([0]);
    await c.advance(1);
    expect(at).toEqual([0, 5_000]);
    await c.advance(30_000);
    expect(at).toEqual([0, 5_000, 35_000]);
    await c.advance(999);
    expect(at).toEqual([0, 5_000, 35_000]);
    await c.advance(1);
    expect(at).toEqual([0, 5_000, 35_000, 36_000]);
    await c.advance(30_000);
    expect(at).toEqual([0, 5_000, 35_000, 36_000, 66_000]);
    await r.stop();
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

  it('a kick during runNow waits for its pass: never two passes at once', async () => {
    const c = new FakeClock(0);
    let inPass = 0;
    let most = 0;
    let passes = 0;
    let release: (() => void) | undefined;
    const r = new Runner('t', 30_000, async () => {
      inPass++;
      most = Math.max(most, inPass);
      passes++;
      if (passes === 2) await new Promise<void>((resolve) => (release = resolve));
      inPass--;
    }, memoryLogger().log, c);
    r.start();
    await c.flush();
    expect(passes).toBe(1);
    const now = r.runNow();
    await c.flush();
    expect(release).toBeDefined();
    r.kick();
    r.kick();
    await c.flush();
    expect(passes).toBe(2);
    release!();
    await now;
    await c.flush();
    expect(passes).toBe(3);
    expect(most).toBe(1);
    await r.stop();
  });

  it('backs off 1 s, 2 s, 4 s … after failures, never beyond the interval, and records the error code', async () => {
    const c = new FakeClock(0);
    const at: number[] = [];
    let fail = true;
    const errors = [new StorageFullError('/x', 'ENOSPC'), new EngineError('engine down', 'ECONNREFUSED', true), new Error('plain')];
    let i = 0;
    const r = new Runner('t', 5000, async () => {
      at.push(c.now());
      if (fail) throw errors[Math.min(i++, errors.length - 1)];
    }, memoryLogger().log, c);
    r.start();
    await c.flush();
    expect(r.status.lastErrorCode).toBe('storage_full');
    await c.advance(1000);
    expect(r.status.lastErrorCode).toBe('engine');
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

  it('a terminal error (refused, a setting, an engine answer that will not change) is logged once and tried again on the interval only', async () => {
    const c = new FakeClock(0);
    const mem = memoryLogger();
    const at: number[] = [];
    const errors: Error[] = [new RefusedError('ingest refused the token'), new RefusedError('ingest refused the token'), new ConfigError('SSH_KEY_PATH', 'no such file'), new EngineError('no such image', '404', false), new Error('plain')];
    let i = 0;
    const r = new Runner('t', 5000, async () => {
      at.push(c.now());
      const err = errors[i++];
      if (err) throw err;
    }, mem.log, c);
    r.start();
    await c.flush();
    expect(r.status).toMatchObject({ lastErrorCode: 'refused', lastErrorTerminal: true });
    // No backoff: the next try is one interval later, not 1 s.
    await c.advance(4999);
    expect(at).toEqual([0]);
    await c.advance(1);
    expect(at).toEqual([0, 5000]);
    // The same terminal error again is not logged again; another one is.
    expect(mem.lines.filter((l) => String(l.msg).startsWith("t pass failed") && l.level === 50)).toHaveLength(1);
    expect(mem.text()).toMatch(/t pass failed; trying again in 5 s \(retrying sooner cannot help\)/);
    await c.advance(5000);
    expect(r.status).toMatchObject({ lastErrorCode: 'config', lastErrorTerminal: true });
    await c.advance(5000);
    expect(r.status).toMatchObject({ lastErrorCode: 'engine', lastErrorTerminal: true });
    expect(mem.lines.filter((l) => String(l.msg).startsWith("t pass failed") && l.level === 50)).toHaveLength(3);
    // A retryable error after terminal ones backs off again (consecutive failures: 5 → 16 s, capped at 5 s).
    await c.advance(5000);
    expect(r.status).toMatchObject({ lastErrorCode: 'error', lastErrorTerminal: false, consecutiveFailures: 5 });
    expect(at).toEqual([0, 5000, 10_000, 15_000, 20_000]);
    await c.advance(5000);
    expect(r.status).toMatchObject({ consecutiveFailures: 0, lastErrorTerminal: false });
    await r.stop();
  });
});
