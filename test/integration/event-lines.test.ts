// readLines cuts a chunk into lines once: text when the chunk is valid UTF-8 (one decode for the
// chunk), bytes when it is not (each line judged alone), with CRLF, blank and oversized lines.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLines } from '../../src/store/events.js';
import { removeDir, tempDir } from '../support/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-lines-');
});
afterEach(async () => {
  await removeDir(dir);
});

async function lines(content: Buffer | string, budget = 1 << 20) {
  const file = path.join(dir, 'n1.jsonl');
  await writeFile(file, content);
  const got: { line: number; kind: 'text' | 'bytes' | 'oversized'; value?: string }[] = [];
  const out = await readLines(file, undefined, budget, {
    line: (l, line) => got.push(typeof l === 'string' ? { line, kind: 'text', value: l } : { line, kind: 'bytes', value: Buffer.from(l).toString('latin1') }),
    oversized: (line) => got.push({ line, kind: 'oversized' }),
  });
  return { got, out };
}

describe('readLines', () => {
  it('valid UTF-8: text lines, CR dropped, blank lines skipped but counted, a partial last line left', async () => {
    const { got, out } = await lines('{"a":"zażółć"}\r\n\n   \n{"b":2}\n{"c":');
    expect(got).toEqual([
      { line: 1, kind: 'text', value: '{"a":"zażółć"}' },
      { line: 4, kind: 'text', value: '{"b":2}' },
    ]);
    expect(out!.pos.offset).toBe(Buffer.byteLength('{"a":"zażółć"}\r\n\n   \n{"b":2}\n'));
    expect(out!.caughtUp).toBe(true);
  });

  it('one invalid byte in the chunk: every line comes as bytes, so only that line is refused', async () => {
    const { got } = await lines(Buffer.concat([Buffer.from('{"a":1}\n{"b":"'), Buffer.from([0xff]), Buffer.from('"}\r\n{"c":"é"}\n')]));
    expect(got.map((g) => [g.line, g.kind])).toEqual([[1, 'bytes'], [2, 'bytes'], [3, 'bytes']]);
    expect(got[2]!.value).toBe(Buffer.from('{"c":"é"}').toString('latin1'));
  });

  it('a BOM is kept in the text, line by line, for the parser to judge as it judges bytes', async () => {
    const { got } = await lines('\ufeff{"a":1}\n\ufeff{"b":2}\n');
    expect(got.map((g) => g.value)).toEqual(['\ufeff{"a":1}', '\ufeff{"b":2}']);
  });

  it('an oversized line in the middle: reported by its line number, the lines around it as text', async () => {
    const big = `{"x":"${'y'.repeat(70 * 1024)}"}`;
    const { got } = await lines(`{"a":1}\n${big}\n{"b":"ü"}\n`);
    expect(got).toEqual([
      { line: 1, kind: 'text', value: '{"a":1}' },
      { line: 2, kind: 'oversized' },
      { line: 3, kind: 'text', value: '{"b":"ü"}' },
    ]);
  });
});
