// The observer's texts in parts: the same bytes as serialising the whole record, write after write.
import { describe, expect, it } from 'vitest';
import { ObserverTexts } from '../../../src/loops/observer-texts.js';
import { checkpointText } from '../../../src/store/checkpoint.js';
import { stableJson } from '../../../src/store/atomic.js';
import type { World } from '../../../src/domain/schemas.js';

const text = (chunks: readonly Uint8Array[]) => Buffer.concat(chunks).toString('utf8');

describe('ObserverTexts', () => {
  it('the checkpoint and world/services.json in parts are checkpointText and stableJson, byte for byte', () => {
    const t = new ObserverTexts();
    const services: Record<string, unknown> = { 'a/web': { node: 'a', status: 'healthy', reason: 'x\u0000y' }, 'b/db': { node: 'b', status: 'unhealthy' } };
    const model = { services, nodes: { a: { node: 'a' }, b: { node: 'b' } }, seq: {}, counters: { applied: 2, malformed: 0, oversized: 0, duplicate: 0, unknown: 0 }, malformed_by_node: {} };
    const positions = { a: { '2026-12-03': { ino: 1, offset: 20, line: 2, skip: false, head: '{"\u0000' } } };
    t.rendered('all');
    expect(text(t.checkpoint('fp\u0000"', positions, model as never))).toBe(checkpointText('fp\u0000"', positions, model as never));
    expect(text(t.services({ services, nodes: {} } as unknown as World, 1))).toBe(stableJson(services));
    services['b/db'] = { node: 'b', status: 'healthy' };
    t.rendered(['b/db']);
    expect(text(t.checkpoint('fp', positions, model as never))).toBe(checkpointText('fp', positions, model as never));
    const world = t.services({ services, nodes: {} } as unknown as World, 2);
    expect(text(world)).toBe(stableJson(services));
    // The same generation: the same parts.
    expect(t.services({ services, nodes: {} } as unknown as World, 2)).toBe(world);
  });
});
