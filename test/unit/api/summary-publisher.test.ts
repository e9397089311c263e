// /summary's bytes are built by the publisher's timer, never by a request: once per change,
// restamped once a second, compressed once per build.
import { describe, expect, it } from 'vitest';
import { SummaryPublisher } from '../../../src/api/summary-publisher.js';
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
});
