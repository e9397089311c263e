// The lifecycle: components start in order and stop in reverse, on the same path whether a start
// failed half-way or a stop was asked; a stop aborts the start signal first and bounds each part.
import { describe, expect, it } from 'vitest';
import { Bus } from '../../src/app/bus.js';
import { Lifecycle, type Component } from '../../src/app/lifecycle.js';
import { FakeClock } from '../../src/time/clock.js';
import { memoryLogger } from '../support/helpers.js';

function recorder() {
  const log: string[] = [];
  const make = (name: string, opts: { failStart?: boolean; hangStop?: boolean; budget?: number } = {}): Component => ({
    name,
    ...(opts.budget !== undefined ? { stopBudgetMs: opts.budget } : {}),
    start: (signal) => {
      if (opts.failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
      signal.addEventListener('abort', () => log.push(`abort seen by ${name}`));
    },
    stop: () => {
      log.push(`stop ${name}`);
      return opts.hangStop ? new Promise<void>(() => {}) : undefined;
    },
  });
  return { log, make };
}

describe('Lifecycle', () => {
  it('stops in reverse order, after every component saw the abort', async () => {
    const { log, make } = recorder();
    const life = new Lifecycle(memoryLogger().log, new FakeClock());
    await life.start([make('a'), make('b'), make('c')]);
    await life.stop();
    expect(log).toEqual(['start a', 'start b', 'start c', 'abort seen by a', 'abort seen by b', 'abort seen by c', 'stop c', 'stop b', 'stop a']);
  });

  it('a start that fails half-way stops what started, in reverse, and rethrows', async () => {
    const { log, make } = recorder();
    const life = new Lifecycle(memoryLogger().log, new FakeClock());
    await expect(life.start([make('a'), make('b'), make('c', { failStart: true }), make('d')])).rejects.toThrow('c cannot start');
    expect(log.filter((l) => l.startsWith('st'))).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('a component that does not stop is given its budget, then the stop goes on', async () => {
    const { log, make } = recorder();
    const clock = new FakeClock();
    const mem = memoryLogger();
    const life = new Lifecycle(mem.log, clock);
    await life.start([make('a'), make('stuck', { hangStop: true, budget: 1500 })]);
    let done = false;
    const stopping = life.stop().then(() => (done = true));
    await clock.advance(1499);
    expect(done).toBe(false);
    await clock.advance(1);
    await stopping;
    expect(log.filter((l) => l.startsWith('stop'))).toEqual(['stop stuck', 'stop a']);
    expect(mem.text()).toMatch(/stuck did not stop within 1500 ms/);
  });
});

describe('Bus', () => {
  it('delivers typed signals to every listener until it unsubscribes', () => {
    const bus = new Bus();
    const seen: string[] = [];
    const off = bus.on('actionFileAdded', (state) => seen.push(`a:${state}`));
    bus.on('actionFileAdded', (state) => seen.push(`b:${state}`));
    bus.emit('actionFileAdded', 'approved');
    off();
    bus.emit('actionFileAdded', 'pending');
    bus.emit('worldPublished');
    expect(seen).toEqual(['a:approved', 'b:approved', 'b:pending']);
  });
});
