// The button codec: every operation round-trips within 64 bytes, and any string at all decodes
// to a known operation or to `invalid` (never throws, never a half-parsed result).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, OPS, type Op } from '../../../src/bot/callback-data.js';

const ops = Object.keys(OPS) as Op[];
const ref = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);

describe('callback data', () => {
  it('codes differ by more than case (no rR / rr)', () => {
    const codes = Object.values(OPS);
    expect(new Set(codes.map((c) => c.toLowerCase())).size).toBe(codes.length);
  });

  it('round-trips every operation, at most 64 bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ops), ref, fc.integer({ min: 0, max: 9999 }), (op, r, n) => {
        const d = op === 'page' ? { op, ref: r, n } : { op, ref: r };
        const data = encode(d);
        expect(Buffer.byteLength(data)).toBeLessThanOrEqual(64);
        expect(decode(data)).toEqual(d);
      }),
    );
  });

  it('any string decodes to a known operation or to invalid', () => {
    const known = new Set<string>([...ops, 'invalid']);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.stringMatching(/^[a-zA-Z]{2}:[A-Za-z0-9_:.-]{0,30}$/), fc.constantFrom('ap:', 'ap:x:1', 'pg:x', 'rR:abc', 'AP:abc', 'ap:../../etc', `ap:${'A'.repeat(60)}`, 'pg:abc:99999', '')), (s) => {
        const d = decode(s);
        expect(known.has(d.op)).toBe(true);
        if (d.op !== 'invalid') expect(encode(d)).toBe(s);
      }),
      { numRuns: 2000 },
    );
    for (const forged of ['ap:', 'ap:x:1', 'pg:x', 'rR:abc', 'AP:abc', 'ap:../../etc', `ap:${'A'.repeat(60)}`, 'pg:abc:99999', '', 'xx']) expect(decode(forged)).toEqual({ op: 'invalid' });
    expect(decode(undefined)).toEqual({ op: 'invalid' });
  });

  it('refuses to encode a reference no decoder would accept', () => {
    expect(() => encode({ op: 'approve', ref: 'a:b' })).toThrow(/callback reference/);
    expect(() => encode({ op: 'approve', ref: '' })).toThrow(/callback reference/);
  });
});
