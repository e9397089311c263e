// The observer's texts in parts: the same bytes as serialising the whole record, write after write.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObserverTexts, WHOLE_EVERY_MS } from '../../../src/loops/observer-texts.js';
import { checkpointText } from '../../../src/store/checkpoint.js';
import { stableJson } from '../../../src/store/atomic.js';
import type { World } from '../../../src/domain/schemas.js';
import type { FilePos } from '../../../src/store/events.js';

const text = (chunks: readonly Uint8Array[]) => Buffer.concat(chunks).toString('utf8');
const pos = (offset: number, head = ''): FilePos => ({ ino: 1, offset, line: offset, skip: false, head });

describe('ObserverTexts', () => {
  it('the checkpoint and world/services.json in parts are checkpointText and stableJson, byte for byte', () => {
    const t = new ObserverTexts();
    const services: Record<string, unknown> = { 'a/web': { node: 'a', status: 'healthy', reason: 'x\u0000y' }, 'b/db': { node: 'b', status: 'unhealthy' } };
    const model = { services, nodes: { a: { node: 'a' }, b: { node: 'b' } }, seq: {}, counters: { applied: 2, malformed: 0, oversized: 0, duplicate: 0, unknown: 0 }, malformed_by_node: {} };
    const positions = { a: { '2026-12-03': pos(20, '{"\u0000') } };
    t.rendered('all');
    expect(text(t.checkpoint('fp\u0000"', positions, model as never, 0).text)).toBe(checkpointText('fp\u0000"', positions, model as never));
    expect(text(t.services({ services, nodes: {} } as unknown as World, 1))).toBe(stableJson(services));
    services['b/db'] = { node: 'b', status: 'healthy' };
    t.rendered(['b/db']);
    expect(text(t.checkpoint('fp', positions, model as never, 1).text)).toBe(checkpointText('fp', positions, model as never));
    const world = t.services({ services, nodes: {} } as unknown as World, 2);
    expect(text(world)).toBe(stableJson(services));
    // The same generation: the same parts.
    expect(t.services({ services, nodes: {} } as unknown as World, 2)).toBe(world);
  });

  it('a checkpoint after one node was read serialises that node’s positions and model entry, not the fleet’s', () => {
    const t = new ObserverTexts();
    const positions: Record<string, Record<string, FilePos>> = {};
    const nodes: Record<string, { node: string; events_applied: number }> = {};
    for (let i = 0; i < 1000; i++) {
      positions[`n${i}`] = { '2026-12-03': pos(10) };
      nodes[`n${i}`] = { node: `n${i}`, events_applied: 1 };
    }
    const model = { services: {}, nodes, seq: {}, counters: { applied: 1000, malformed: 0, oversized: 0, duplicate: 0, unknown: 0 }, malformed_by_node: {} };
    const first = t.checkpoint('fp', positions, model as never, 0);
    expect(t.serialised()).toBe(2000);
    t.touched('n7');
    positions.n7 = { '2026-12-03': pos(20) };
    nodes.n7!.events_applied++;
    const second = t.checkpoint('fp', positions, model as never, 1);
    expect(t.serialised()).toBe(2);
    expect(text(second.text)).toBe(checkpointText('fp', positions, model as never));
    // The positions it holds: a copy, each node's days copied only when it was read.
    expect(second.positions).toEqual(positions);
    expect(second.positions.n7).not.toBe(positions.n7);
    expect(second.positions.n8).toBe(first.positions.n8);
    // Whole again after WHOLE_EVERY_MS, whatever was said.
    t.checkpoint('fp', positions, model as never, WHOLE_EVERY_MS);
    expect(t.serialised()).toBe(2000);
  });

  it('over random histories of reads, sweeps and forgotten agents, the checkpoint in parts is checkpointText', () => {
    const day = (d: number) => `2026-12-0${d}`;
    const op = fc.oneof(
      // A node read: its days' positions replaced, its model entry changed in place (or made).
      fc.record({ kind: fc.constant('read' as const), node: fc.integer({ min: 0, max: 6 }), day: fc.integer({ min: 1, max: 3 }), offset: fc.integer({ min: 0, max: 99 }) }),
      // An event of a read file naming another node (said by the render's touched nodes).
      fc.record({ kind: fc.constant('other' as const), node: fc.integer({ min: 0, max: 6 }) }),
      // Files gone (a retention sweep): days and nodes leave the positions.
      fc.record({ kind: fc.constant('sweep' as const), day: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('forget' as const) }),
      fc.record({ kind: fc.constant('write' as const), later: fc.integer({ min: 0, max: WHOLE_EVERY_MS / 4 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const t = new ObserverTexts();
        const positions: Record<string, Record<string, FilePos>> = {};
        const model = { services: {}, nodes: {} as Record<string, { node: string; n: number }>, seq: {} as Record<string, number>, counters: { applied: 0, malformed: 0, oversized: 0, duplicate: 0, unknown: 0 }, malformed_by_node: {} };
        let now = 0;
        for (const o of ops) {
          if (o.kind === 'read') {
            const node = `n${o.node}`;
            t.touched(node);
            (positions[node] ??= {})[day(o.day)] = pos(o.offset);
            (model.nodes[node] ??= { node, n: 0 }).n++;
            model.seq[`${node}@a`] = o.offset;
          } else if (o.kind === 'other') {
            (model.nodes[`n${o.node}`] ??= { node: `n${o.node}`, n: 0 }).n++;
            t.touched(`n${o.node}`);
          } else if (o.kind === 'sweep') {
            for (const node of Object.keys(positions)) {
              delete positions[node]![day(o.day)];
              if (Object.keys(positions[node]!).length === 0) delete positions[node];
            }
            t.changedAll();
          } else if (o.kind === 'forget') {
            for (const k of Object.keys(model.seq).slice(0, 2)) delete model.seq[k];
            t.changedAll();
          } else {
            now += o.later;
            const cp = t.checkpoint('fp', positions, model as never, now);
            if (text(cp.text) !== checkpointText('fp', positions, model as never)) return false;
            expect(cp.positions).toEqual(positions);
          }
        }
        return text(t.checkpoint('fp', positions, model as never, now).text) === checkpointText('fp', positions, model as never);
      }),
      { numRuns: 300 },
    );
  });
});
