import { describe, expect, it } from 'vitest';
import { ActionSchema } from '../../../src/domain/actions.js';

const base = { id: 'container-restart-n1-a', instance: '20260527T140000Z', type: 'container_restart', risk: 'low', node: 'n1', service: 'a', drift: 'unhealthy_service', trigger: 'containers_not_running', state: 'completed', created_at: 't', updated_at: 't', history: [] };

describe('ActionSchema', () => {
  it('types the facts the code reads: result by type, verification, recovery, drift_since', () => {
    const a = ActionSchema.parse({ ...base, result: { containers: [{ container: 'a', id: 'abc', ms: 1200 }] }, verified: true, verification: { verified: true, after_s: 2, at: 't' }, drift_since: null, verify_until: 't2', recovery: { at: 't3', done: ['put back a'] } });
    expect(a.result && 'containers' in a.result && Array.isArray(a.result.containers) ? a.result.containers[0]!.container : undefined).toBe('a');
    expect(a.verification?.after_s).toBe(2);
    expect(a.recovery?.done).toEqual(['put back a']);
    const cleanup = ActionSchema.parse({ ...base, type: 'disk_cleanup', result: { containers: { removed: 1, bytes: 2 }, images: { removed: 0, bytes: 0 }, build_cache: { removed: 0, bytes: 0, skipped: 'x' }, bytes_total: 2 } });
    expect(cleanup.result && 'bytes_total' in cleanup.result ? cleanup.result.bytes_total : undefined).toBe(2);
  });

  it('a fact of an unexpected shape is dropped; the action stays readable', () => {
    const a = ActionSchema.parse({ ...base, result: 'restarted', verification: { verified: 'yes' }, recovery: 42 });
    expect(a.id).toBe('container-restart-n1-a');
    expect(a.result).toBeUndefined();
    expect(a.verification).toBeUndefined();
    expect(a.recovery).toBeUndefined();
  });
});
