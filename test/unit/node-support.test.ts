// The start names an unsupported or ended Node; a supported one says nothing.
import { describe, expect, it } from 'vitest';
import { nodeSupportNote } from '../../src/cli.js';

describe('nodeSupportNote', () => {
  it('Node 20: past its end of life; 24 and later: nothing; older: not supported', () => {
    expect(nodeSupportNote('20.20.2')).toMatch(/^Node 20\.20\.2 reached its end of life on 2026-04-30 .*Node 24 LTS/);
    expect(nodeSupportNote('24.22.3')).toBeUndefined();
    expect(nodeSupportNote('26.1.0')).toBeUndefined();
    expect(nodeSupportNote('18.20.0')).toMatch(/not supported/);
  });
});
