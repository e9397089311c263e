// Property tests: whatever the text (emoji, combining marks, entities, tags, any length up to
// 50 000), every part fits Telegram's limit after entity parsing, is valid UTF-8 and a balanced
// HTML fragment, and the parts together say exactly what the input said.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { plainLength, plainText, shortenHtml, splitHtml } from '../../../src/bot/html-split.js';
import { esc } from '../../../src/bot/render.js';

const pieces = ['a', 'Z', ' ', '\n', '&', '<', '>', '"', 'é', 'e\u0301', '👍', '👨‍👩‍👧‍👦', '🇵🇱', '漢', 'x\u0301\u0302\u0303', '\u200d'];
const text = fc.array(fc.constantFrom(...pieces), { maxLength: 400 }).map((xs) => esc(xs.join('')));
const tags = ['b', 'i', 'code', 'pre'] as const;
// Well-formed HTML as the renderer writes it: escaped text, nested tags.
const html: fc.Arbitrary<string> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, text, tie('tagged'), tie('seq')),
  tagged: fc.tuple(fc.constantFrom(...tags), tie('node')).map(([t, inner]) => `<${t}>${inner}</${t}>`),
  seq: fc.array(tie('node'), { maxLength: 6 }).map((xs) => xs.join('')),
})).node as fc.Arbitrary<string>;
const big = fc.array(html, { minLength: 1, maxLength: 60 }).map((xs) => xs.join('\n'));

function balanced(part: string): boolean {
  const stack: string[] = [];
  for (const m of part.matchAll(/<(\/?)([a-z]+)>/g)) {
    if (!m[1]) stack.push(m[2]!);
    else if (stack.pop() !== m[2]) return false;
  }
  return stack.length === 0;
}
const noCutEntity = (part: string) => !/&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-f]+);)/i.test(part) && !/<[^>]*$/.test(part);

describe('splitHtml', () => {
  it('every part fits, is valid UTF-8 and balanced, and the parts say what the input said', () => {
    fc.assert(
      fc.property(big, fc.integer({ min: 40, max: 4096 }), (input, max) => {
        const parts = splitHtml(input, max);
        for (const p of parts) {
          expect(plainText(p).length).toBeLessThanOrEqual(max);
          expect(p.isWellFormed()).toBe(true);
          expect(balanced(p)).toBe(true);
          expect(noCutEntity(p)).toBe(true);
        }
        expect(parts.map(plainText).join('')).toBe(plainText(input));
      }),
      { numRuns: 300 },
    );
  });

  it('texts up to 50 000 characters split into parts of at most 4096, cut at line ends where there are any', () => {
    fc.assert(
      fc.property(fc.array(html, { minLength: 50, maxLength: 400 }).map((xs) => xs.join('\n')), (input) => {
        const parts = splitHtml(input, 4096);
        for (const p of parts) expect(plainText(p).length).toBeLessThanOrEqual(4096);
        expect(parts.map(plainText).join('')).toBe(plainText(input));
      }),
      { numRuns: 20 },
    );
    const long = Array.from({ length: 2000 }, (_, i) => `line ${i} 👍 &amp; <b>bold ${i}</b>`).join('\n');
    const parts = splitHtml(long, 4096);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts.slice(0, -1)) expect(plainText(p).endsWith('\n')).toBe(true);
  });

  it('a tag open at the cut is closed there and reopened in the next part', () => {
    const parts = splitHtml(`<pre>${'x'.repeat(30)}\n${'y'.repeat(30)}</pre>`, 40);
    expect(parts).toEqual([`<pre>${'x'.repeat(30)}\n</pre>`, `<pre>${'y'.repeat(30)}</pre>`]);
  });
});

describe('plainLength', () => {
  it('is the length of the plain text, tags and entities counted as Telegram counts them', () => {
    fc.assert(fc.property(big, (input) => {
      expect(plainLength(input)).toBe(plainText(input).length);
    }), { numRuns: 300 });
    expect(plainLength('<b>a&amp;b</b> &#128512; &bogus; <x')).toBe('a&b 😀 &bogus; <x'.length);
  });

  it('counts any text as the pieces read it: tags and entities up to 300 characters long, stray < and &', () => {
    const raw = fc.constantFrom('a', '😀', '<', '>', '&', ';', ' ', '<b>', '</b>', '<B>', '<a-b x>', '&amp;', '&#128512;', '&#xFFFFFF;', '&#99999999;', '&bogus;', '&AMP;', `<a href="${'x'.repeat(289)}">`, `<a href="${'x'.repeat(290)}">`, `&${'a'.repeat(298)};`, `&${'a'.repeat(299)};`);
    fc.assert(fc.property(fc.array(raw, { maxLength: 40 }).map((xs) => xs.join('')), (input) => {
      expect(plainLength(input)).toBe(plainText(input).length);
    }), { numRuns: 1000 });
  });
});

describe('shortenHtml', () => {
  it('a long text (a group of 1 000 actions) is read only as far as its cut: the same result as the whole text cut', () => {
    const line = (i: number) => `• <code>container-restart-n${i}-s${i % 50}</code> (low): ⏳ pending &amp; waiting`;
    const input = Array.from({ length: 1000 }, (_, i) => line(i)).join('\n');
    const out = shortenHtml(input, 4096, '\n… (shortened)');
    expect(plainLength(out)).toBeLessThanOrEqual(4096);
    expect(out.startsWith(input.slice(0, 2000))).toBe(true);
    expect(balanced(out)).toBe(true);
  });

  it('cuts where a cluster-by-cluster reading cuts (runs that fit are taken whole, only the run at the cut is segmented)', () => {
    const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });
    // The oracle: every tag, entity and grapheme cluster one by one, up to the budget.
    const reference = (input: string, max: number, tail: string) => {
      if (plainText(input).length <= max) return input;
      const budget = max - plainText(tail).length;
      const open: string[] = [];
      let out = '';
      let len = 0;
      const parts = input.split(/(<\/?[a-z-]+>|&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z]+);)/i).filter((x) => x !== '');
      // Runs next to each other (a bare & between) are one run, as Telegram's text is.
      const merged: string[] = [];
      for (const x of parts) {
        const isMarkup = /^<|^&.+;$/.test(x);
        if (!isMarkup && merged.length > 0 && !/^<|^&.+;$/.test(merged[merged.length - 1]!)) merged[merged.length - 1] += x;
        else merged.push(x);
      }
      outer: for (const x of merged) {
        const tag = /^<(\/?)([a-z-]+)>$/i.exec(x);
        if (tag) {
          if (tag[1]) open.splice(open.lastIndexOf(tag[2]!), 1);
          else open.push(tag[2]!);
          out += x;
        } else if (/^&.+;$/.test(x)) {
          if (len + plainText(x).length > budget) break;
          out += x;
          len += plainText(x).length;
        } else {
          for (const { segment } of segmenter.segment(x)) {
            if (len + segment.length > budget) break outer;
            out += segment;
            len += segment.length;
          }
        }
      }
      return out + [...open].reverse().map((t) => `</${t}>`).join('') + tail;
    };
    fc.assert(
      fc.property(big, fc.integer({ min: 60, max: 4096 }), (input, max) => {
        expect(shortenHtml(input, max, '\n… (shortened)')).toBe(reference(input, max, '\n… (shortened)'));
      }),
      { numRuns: 300 },
    );
  });

  it('fits, stays valid and balanced, and ends with the pointer', () => {
    fc.assert(
      fc.property(big, fc.integer({ min: 60, max: 4096 }), (input, max) => {
        const tail = '\n… (shortened)';
        const out = shortenHtml(input, max, tail);
        expect(plainText(out).length).toBeLessThanOrEqual(Math.max(max, plainText(input).length <= max ? plainText(input).length : max));
        expect(out.isWellFormed()).toBe(true);
        expect(balanced(out)).toBe(true);
        expect(noCutEntity(out)).toBe(true);
        if (plainText(input).length > max) expect(out.endsWith(tail)).toBe(true);
        else expect(out).toBe(input);
      }),
      { numRuns: 300 },
    );
  });
});
