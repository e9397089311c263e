// /summary's bytes are built by the publisher's timer while someone reads them: once per change,
// restamped once a second, compressed once per build. Nobody reading, nothing is built; the first
// request after that builds what it needs.
import { describe, expect, it } from 'vitest';
import { READ_WINDOW_MS, SummaryPublisher } from '../../../src/api/summary-publisher.js';
import type { Summary } from '../../../src/domain/summary.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger, waitFor } from '../../support/helpers.js';

const T0 = Date.parse('2026-05-27T14:00:00.100Z');
const summary = (n: number): Summary => ({ generated_at: '', nodes: [{ node: 'n1', last_seen: '2026-05-27T13:59:00.000Z', last_seen_age_s: 0 }], padding: 'x'.repeat(2000), n }) as unknown as Summary;

describe('SummaryPublisher', () => {
  it('requests take the bytes in place; the timer gathers on a change and restamps on a new second', async () => {
    const clock = new FakeClock(T0);
    let generation = 1;
    let gathered = 0;
    const p = new SummaryPublisher({ summary: async () => summary(++gathered), generation: () => generation, now: () => clock.now(), clock, log: memoryLogger().log });
    p.start();
    const first = await p.representation();
    expect(JSON.parse(first.body.toString())).toMatchObject({ n: 1, generated_at: '2026-05-27T14:00:00.100Z', nodes: [{ last_seen_age_s: 60 }] });
    expect(await first.variants.br).toBeInstanceOf(Buffer);
    // 100 requests: the same bytes, nothing built.
    for (let i = 0; i < 100; i++) expect(await p.representation()).toBe(first);
    expect(p.stats).toEqual({ builds: 1, gathers: 1 });
    // Nothing changed: ticks build nothing.
    await clock.advance(600);
    expect(p.stats.builds).toBe(1);
    // A change: gathered at the next tick; until then the last bytes are served.
    generation++;
    expect(await p.representation()).toBe(first);
    await clock.advance(200);
    await waitFor(() => p.stats.builds === 2, { what: 'the rebuild' });
    expect(JSON.parse((await p.representation()).body.toString()).n).toBe(2);
    // A new second: restamped, not gathered.
    await clock.advance(400);
    await waitFor(() => p.stats.builds === 3, { what: 'the restamp' });
    expect(p.stats.gathers).toBe(2);
    expect(JSON.parse((await p.representation()).body.toString()).nodes[0].last_seen_age_s).toBe(61);
    p.stop();
  });

  it('a build that fails is said once, the last bytes stay served, and the recovery is said', async () => {
    const clock = new FakeClock(T0);
    let generation = 1;
    let broken = false;
    const mem = memoryLogger();
    const p = new SummaryPublisher({ summary: async () => { if (broken) throw new Error('disk gone'); return summary(generation); }, generation: () => generation, now: () => clock.now(), clock, log: mem.log });
    p.start();
    const first = await p.representation();
    broken = true;
    generation++;
    for (let i = 0; i < 10; i++) await clock.advance(200);
    await waitFor(() => mem.lines.some((l) => /building \/summary failed/.test(String(l.msg))), { what: 'the failure said' });
    expect(mem.lines.filter((l) => /building \/summary failed/.test(String(l.msg)))).toHaveLength(1);
    expect(await p.representation()).toBe(first);
    broken = false;
    await clock.advance(200);
    await waitFor(() => mem.lines.some((l) => /works again/.test(String(l.msg))), { what: 'the recovery said' });
    expect(JSON.parse((await p.representation()).body.toString()).n).toBe(2);
    p.stop();
  });

  it('nobody reading for READ_WINDOW_MS: the timer builds nothing; the next request builds at once what is current, and the timer keeps it current again', async () => {
    const clock = new FakeClock(T0);
    let generation = 1;
    let gathered = 0;
    const p = new SummaryPublisher({ summary: async () => summary(++gathered), generation: () => generation, now: () => clock.now(), clock, log: memoryLogger().log });
    p.start();
    await p.representation();
    // Read within the window: the timer restamps each second.
    await clock.advance(1000);
    await waitFor(() => p.stats.builds === 2, { what: 'the restamp while read' });
    // No request for the window: changes and seconds pass, nothing is built. (Time moves in
    // steps, each build finished before the next: a fake clock must not jump during one.)
    const step = async () => {
      await clock.advance(200);
      await p.settled();
    };
    for (let t = 0; t <= READ_WINDOW_MS; t += 200) await step();
    const idle = p.stats.builds;
    generation++;
    for (let i = 0; i < 50; i++) await step();
    expect(p.stats.builds).toBe(idle);
    // The next request gets the summary of now, built for it.
    const now = JSON.parse((await p.representation()).body.toString());
    expect(now).toMatchObject({ n: 2, generated_at: new Date(clock.now()).toISOString() });
    expect(p.stats).toEqual({ builds: idle + 1, gathers: 2 });
    // And the timer keeps it current again: a new second restamps without a request.
    await clock.advance(1000);
    await waitFor(() => p.stats.builds === idle + 2, { what: 'the restamp after the request' });
    p.stop();
  });
});
