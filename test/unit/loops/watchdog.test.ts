// The product's own watchdog on a FakeClock: a loop whose pass never returns is stuck after five
// of its intervals, and the watchdog says which loop and since when, once; a slow pass that ends
// is not stuck.
import { describe, expect, it } from 'vitest';
import { watchdogComponent } from '../../../src/app/components.js';
import { Runner, stuckLoops } from '../../../src/loops/runner.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger } from '../../support/helpers.js';

describe('watchdog', () => {
  it('a pass that never returns: stuck after 5 intervals, said and acted on once', async () => {
    const clock = new FakeClock();
    const mem = memoryLogger();
    const hang = new Runner('executor', 1000, () => new Promise<void>(() => {}), mem.log, clock);
    let slowEnd: () => void = () => {};
    const slow = new Runner('observer', 1000, () => new Promise<void>((r) => (slowEnd = r)), mem.log, clock);
    const why: string[] = [];
    const dog = watchdogComponent([hang, slow], mem.log, clock, (w) => why.push(w), 1000);
    hang.start();
    slow.start();
    await dog.start(new AbortController().signal);
    await clock.advance(4000);
    slowEnd();
    await clock.advance(1000);
    expect(why).toEqual([]);
    await clock.advance(2000);
    expect(why).toEqual(['the executor loop has been in one pass for 6 s']);
    expect(mem.lines.filter((l) => /watchdog: the executor loop/.test(String(l.msg)))).toHaveLength(1);
    await clock.advance(10_000);
    expect(why).toHaveLength(1);
    await dog.stop();
  });

  it('stuckLoops reads only passes under way', () => {
    const base = { passes: 0, failures: 0, consecutiveFailures: 0, lastSuccessAt: null, lastDurationMs: null, lastError: null, lastErrorCode: null, intervalMs: 1000 };
    const mono = (inFlightSince: number | null) => ({ started: 0, lastSuccess: null, inFlightSince });
    expect(stuckLoops([{ ...base, name: 'a', mono: mono(0) }, { ...base, name: 'b', mono: mono(null) }, { ...base, name: 'c' }], 6000)).toEqual([{ name: 'a', sinceMs: 6000 }]);
  });

  it('a jump of the wall clock, forward or back, makes no pass stuck (FakeClock.jump)', async () => {
    const clock = new FakeClock();
    const mem = memoryLogger();
    let end: () => void = () => {};
    const slow = new Runner('observer', 1000, () => new Promise<void>((r) => (end = r)), mem.log, clock);
    const why: string[] = [];
    const dog = watchdogComponent([slow], mem.log, clock, (w) => why.push(w), 1000);
    slow.start();
    await dog.start(new AbortController().signal);
    await clock.advance(2000);
    clock.jump(3_600_000);
    await clock.advance(1000);
    clock.jump(-7_200_000);
    await clock.advance(1000);
    expect(why).toEqual([]);
    end();
    await dog.stop();
  });
});
