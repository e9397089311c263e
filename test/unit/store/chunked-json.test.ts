// The world files and the checkpoint serialised in slices are the texts of one piece.
import { describe, expect, it } from 'vitest';
import { stableJson } from '../../../src/store/atomic.js';
import { checkpointText } from '../../../src/store/checkpoint.js';
import { checkpointTextSliced, stableJsonSliced } from '../../../src/store/chunked-json.js';

const service = (i: number) => ({ node: `n${i % 7}`, service: `s"${i}\n`, status: i % 3 ? 'healthy' : 'unhealthy', reason: null, since: '2026-05-27T14:00:00.000Z', changes: [`2026-05-27T14:00:0${i % 10}.000Z`], last_incident: i % 5 ? null : { reason: 'x', started_at: null, resolved_at: 'y' }, nested: { a: [1, { b: [] }], e: {} } });

describe('sliced JSON', () => {
  for (const n of [0, 1, 1999, 2000, 2001, 4500]) {
    it(`stableJsonSliced of ${n} entries is stableJson byte for byte`, async () => {
      const record = Object.fromEntries(Array.from({ length: n }, (_, i) => [`key/${i}é`, service(i)]));
      const spent = { ms: 0 };
      expect(await stableJsonSliced(record, spent)).toBe(stableJson(record));
    });
  }

  it('checkpointTextSliced reads back as the checkpoint checkpointText writes', async () => {
    for (const n of [0, 3, 4100]) {
      const model = {
        services: Object.fromEntries(Array.from({ length: n }, (_, i) => [`n/s${i}`, service(i)])) as never,
        nodes: { n0: { node: 'n0' } } as never,
        seq: { n0: 3 },
        seq_seen: {},
        first_reasons: { 'n/s1': null },
        counters: { applied: 1, malformed: 0, oversized: 0, duplicate: 2, unknown: 0 },
        malformed_by_node: {},
      };
      const positions = { n0: { '2026-05-27': { ino: 1, offset: 10, line: 2, skip: false, head: 'ab' } } };
      expect(JSON.parse(await checkpointTextSliced('fp', positions, model, { ms: 0 }))).toEqual(JSON.parse(checkpointText('fp', positions, model)));
    }
  });
});
