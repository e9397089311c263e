// Serialising a record per group gives JSON.stringify's text for the world's sorted records (and
// the same record back for the model's arrival order), across writes where some groups changed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkpointText } from '../../../src/store/checkpoint.js';
import { stableJson } from '../../../src/store/atomic.js';
import { compactWith, GroupedJson, RecordText, sameText } from '../../../src/store/grouped-json.js';
import { nodeOfKey } from '../../../src/domain/world-render.js';

const value = fc.record({ status: fc.constantFrom('healthy', 'unhealthy'), reason: fc.option(fc.string({ unit: 'binary', maxLength: 8 })), changes: fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }) });
const key = fc.tuple(fc.constantFrom('n1', 'n10', 'n2', 'a-b', 'z'), fc.constantFrom('s', 's1', 'x.y', 'web')).map(([n, s]) => `${n}/${s}`);
/** Steps: put a value (new or replacing), or remove a key. */
const steps = fc.array(fc.tuple(key, fc.option(value, { freq: 5 })), { minLength: 1, maxLength: 40 });

function run(sorted: boolean, history: [string, unknown][], check: (text: string, record: Record<string, unknown>) => void): void {
  const g = new GroupedJson(sorted);
  let record: Record<string, unknown> = {};
  for (const [k, v] of history) {
    const added = !(k in record) || v === null;
    if (v === null) delete record[k];
    else record[k] = v;
    if (sorted) record = Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
    check(g.text(record, added ? 'all' : new Set([nodeOfKey(k)])), record);
  }
}

describe('GroupedJson', () => {
  it('pretty, over sorted records: byte for byte JSON.stringify(record, null, 2)', () => {
    fc.assert(fc.property(steps, (h) => run(true, h, (text, record) => expect(text).toBe(JSON.stringify(record, null, 2)))), { numRuns: 300 });
  });

  it('compact, in arrival order: the same record back, each group together', () => {
    fc.assert(fc.property(steps, (h) => run(false, h, (text, record) => expect(JSON.parse(text)).toEqual(record))), { numRuns: 300 });
  });

  it('serialises only the groups said to have changed', () => {
    const g = new GroupedJson(false);
    const r: Record<string, unknown> = { 'a/1': { x: 1 }, 'b/1': { x: 2 }, 'a/2': { x: 3 } };
    expect(g.text(r, 'all')).toBe('{"a/1":{"x":1},"a/2":{"x":3},"b/1":{"x":2}}');
    expect(g.made).toBe(2);
    r['b/1'] = { x: 4 };
    expect(g.text(r, new Set(['b']))).toBe('{"a/1":{"x":1},"a/2":{"x":3},"b/1":{"x":4}}');
    expect(g.made).toBe(1);
  });

  it('a group that did not change keeps its part (the same bytes object); texts compare part by part', () => {
    const g = new GroupedJson(true);
    const r: Record<string, unknown> = { 'a/1': { x: 1 }, 'b/1': { x: 2 } };
    const first = g.chunks(r, 'all');
    r['b/1'] = { x: 3 };
    const second = g.chunks(r, new Set(['b']));
    // a's part is the same object; b's is new, and the texts differ.
    expect(second[1]).toBe(first[1]);
    expect(second[3]).not.toBe(first[3]);
    expect(sameText(second, first)).toBe(false);
    // A node said to have changed whose bytes did not, and a whole regroup of the same record:
    // the same parts, so the same text by identity alone.
    const third = g.chunks(r, new Set(['a']));
    expect(third[1]).toBe(second[1]);
    const whole = g.chunks(r, 'all');
    expect(whole.every((c, i) => c === second[i])).toBe(true);
    expect(sameText(whole, second)).toBe(true);
    // Against a text read from a file: byte by byte.
    expect(sameText(whole, JSON.stringify(r, null, 2))).toBe(true);
    expect(sameText(whole, JSON.stringify({ ...r, 'b/1': { x: 4 } }, null, 2))).toBe(false);
    expect(Buffer.concat(g.chunks({}, 'all')).toString()).toBe('{}');
  });

  it('a checkpoint with its services given as text is the same JSON', () => {
    const model = { services: { 'n/a': { node: 'n' } }, nodes: { n: { node: 'n' } }, seq: {}, counters: { applied: 1, malformed: 0, oversized: 0, duplicate: 0, unknown: 0 }, malformed_by_node: {} };
    const positions = { n: { '2026-12-02': { ino: 1, offset: 2, line: 3, skip: false, head: '"x' } } };
    expect(checkpointText('f"p', positions, model as never, '{"n/a":{"node":"n"}}')).toBe(checkpointText('f"p', positions, model as never));
    expect(compactWith({ a: 1, b: undefined, c: 'x' }, 'c', '"y"')).toBe('{"a":1,"c":"y"}');
  });
});

describe('RecordText', () => {
  it("gives stableJson's text for a record whose values are replaced, across changes (values kept by object)", () => {
    const node = fc.record({ node: fc.string({ maxLength: 6 }), last_seen: fc.option(fc.string({ unit: 'binary', maxLength: 8 })), agents_running: fc.option(fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }), { nil: undefined }), agents: fc.dictionary(fc.string({ maxLength: 3 }), fc.record({ last: fc.string({ maxLength: 4 }), interval_s: fc.option(fc.integer(), { nil: undefined }) }), { maxKeys: 2 }) });
    const text = (chunks: readonly Uint8Array[]) => Buffer.concat(chunks).toString('utf8');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('n1', 'n2', 'n"3', 'z'), fc.option(node, { freq: 5 })), { minLength: 1, maxLength: 30 }), (history) => {
        const t = new RecordText();
        const record: Record<string, unknown> = {};
        expect(text(t.chunks(record))).toBe(stableJson(record));
        for (const [k, v] of history) {
          if (v === null) delete record[k];
          else record[k] = v;
          const first = t.chunks(record);
          expect(text(first)).toBe(stableJson(record));
          // A second time: every part the kept one, the same text by identity.
          const again = t.chunks(record);
          expect(again.every((part, i) => part === first[i])).toBe(true);
          expect(sameText(again, first)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
