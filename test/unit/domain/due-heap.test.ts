// The due-time heap takes out exactly what fell due, earliest first, however it was filled.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DueHeap } from '../../../src/domain/due-heap.js';

describe('DueHeap', () => {
  it('gives back what fell due, in time order, and keeps the rest', () => {
    const op = fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 1000 }), key: fc.nat(20) }), fc.record({ pop: fc.integer({ min: -10, max: 1010 }) }), fc.constant({ clear: true }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const heap = new DueHeap<number>();
        let model: { t: number; key: number }[] = [];
        for (const o of ops) {
          if ('push' in o) {
            heap.push(o.push, o.key);
            model.push({ t: o.push, key: o.key });
          } else if ('pop' in o) {
            const got: { t: number; key: number }[] = [];
            heap.popDue(o.pop, (key, t) => got.push({ t, key }));
            const due = model.filter((e) => e.t <= o.pop);
            model = model.filter((e) => e.t > o.pop);
            expect(got.map((e) => e.t)).toEqual(due.map((e) => e.t).sort((a, b) => a - b));
            expect(got.map((e) => `${e.t}:${e.key}`).sort()).toEqual(due.map((e) => `${e.t}:${e.key}`).sort());
          } else {
            heap.clear();
            model = [];
          }
          expect(heap.size).toBe(model.length);
          expect(heap.next).toBe(model.length ? Math.min(...model.map((e) => e.t)) : Infinity);
        }
      }),
      { numRuns: 300 },
    );
  });
});
