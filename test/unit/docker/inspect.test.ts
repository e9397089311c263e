// What leaves an engine as log lines: demultiplexed, in time order, UTF-8, no ANSI codes, capped.
import { describe, expect, it } from 'vitest';
import { demux, tidyLogs } from '../../../src/docker/inspect.js';

describe('log tidying', () => {
  const frame = (stream: number, text: string) => {
    const body = Buffer.from(text);
    const h = Buffer.alloc(8);
    h[0] = stream;
    h.writeUInt32BE(body.length, 4);
    return Buffer.concat([h, body]);
  };

  it('demuxes stdout and stderr frames and puts the lines in time order (fractions of any length)', () => {
    const raw = Buffer.concat([frame(2, '2026-05-27T14:00:00.2Z second\n'), frame(1, '2026-05-27T14:00:00.15Z first\n'), frame(1, '2026-05-27T14:00:01Z third\n')]);
    expect(tidyLogs(demux(raw, false), 30).logs).toEqual(['2026-05-27T14:00:00.15Z first', '2026-05-27T14:00:00.2Z second', '2026-05-27T14:00:01Z third']);
  });

  it('keeps the newest lines within 8 KiB and says it cut', () => {
    const lines = Array.from({ length: 200 }, (_, i) => `2026-05-27T14:00:${String(i % 60).padStart(2, '0')}.${String(i).padStart(3, '0')}Z ${'x'.repeat(100)} ${i}`).join('\n');
    const r = tidyLogs(Buffer.from(lines), 200);
    expect(r.truncated).toBe(true);
    expect(Buffer.byteLength(r.logs.join('\n'))).toBeLessThanOrEqual(8 * 1024);
    expect(r.logs.length).toBeGreaterThan(50);
  });

  it('a TTY stream is raw; invalid UTF-8 is replaced, ANSI codes removed', () => {
    expect(tidyLogs(demux(Buffer.from([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x6f, 0x6b, 0xff, 0x0a]), true), 5).logs).toEqual(['ok\uFFFD']);
  });
});
