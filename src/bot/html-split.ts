// Cutting Telegram HTML safely (docs/operator/telegram.md). Telegram counts a message's length
// in UTF-16 code units of its text after entity parsing (4096 at most), refuses invalid UTF-8, and
// refuses HTML whose entities or tags are cut or unbalanced. So a cut falls only between whole
// grapheme clusters (never inside an emoji, a combining sequence, an entity or a tag), preferably
// at a line end; a tag open at the cut is closed there and reopened in the next part.

type Token =
  | { kind: 'open'; html: string; name: string }
  | { kind: 'close'; html: string; name: string }
  | { kind: 'text'; html: string; plain: string };

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });
const TAG_RE = /^<(\/?)([a-z-]+)(?:\s[^>]*)?>/i;
const ENTITY_RE = /^&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z]+);/i;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"' };

function decodeEntity(e: string): string {
  const body = e.slice(1, -1);
  if (body[0] === '#') {
    const n = body[1] === 'x' || body[1] === 'X' ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10);
    try {
      return String.fromCodePoint(n);
    } catch {
      return '\uFFFD';
    }
  }
  return NAMED[body.toLowerCase()] ?? e;
}

/** `html` in pieces as they come: a tag, an entity (with its plain text), or a run of characters between them. */
function* pieces(html: string): Generator<{ kind: 'tag'; m: RegExpExecArray } | { kind: 'entity'; html: string } | { kind: 'run'; text: string }> {
  for (let i = 0; i < html.length; ) {
    const tag = html[i] === '<' ? TAG_RE.exec(html.slice(i, i + 300)) : null;
    if (tag) {
      yield { kind: 'tag', m: tag };
      i += tag[0].length;
      continue;
    }
    const entity = html[i] === '&' ? ENTITY_RE.exec(html.slice(i, i + 300)) : null;
    if (entity) {
      yield { kind: 'entity', html: entity[0] };
      i += entity[0].length;
      continue;
    }
    let j = i + 1;
    while (j < html.length && html[j] !== '<' && html[j] !== '&') j++;
    yield { kind: 'run', text: html.slice(i, j) };
    i = j;
  }
}

/**
 * Tags, entities and grapheme clusters of `html`, each with what it adds to the plain text, as
 * they come: a reader that stops early (shortenHtml) segments only what it read. Runs next to
 * each other (a `&` that is no entity between them) are segmented as one. `whole(run)`, asked
 * when a run is reached: true yields the run as one token, unsegmented (a run that fits).
 */
function* tokens(html: string, whole: (run: string) => boolean = () => false): Generator<Token> {
  let text = '';
  function* flush(): Generator<Token> {
    if (text === '') return;
    const run = text;
    text = '';
    if (whole(run)) yield { kind: 'text', html: run, plain: run };
    else for (const { segment } of segmenter.segment(run)) yield { kind: 'text', html: segment, plain: segment };
  }
  for (const p of pieces(html)) {
    if (p.kind === 'run') {
      text += p.text;
      continue;
    }
    yield* flush();
    if (p.kind === 'tag') yield { kind: p.m[1] ? 'close' : 'open', html: p.m[0], name: p.m[2]!.toLowerCase() };
    else yield { kind: 'text', html: p.html, plain: decodeEntity(p.html) };
  }
  yield* flush();
}

function tokenize(html: string): Token[] {
  return [...tokens(html)];
}

/** The plain text of `html` in pieces (runs of characters, decoded entities), tags left out: no grapheme segmentation. */
function* plainPieces(html: string): Generator<string> {
  for (const p of pieces(html)) {
    if (p.kind === 'run') yield p.text;
    else if (p.kind === 'entity') yield decodeEntity(p.html);
  }
}

/** The text Telegram shows for `html` (tags removed, entities decoded). */
export function plainText(html: string): string {
  let out = '';
  for (const t of plainPieces(html)) out += t;
  return out;
}

/** How long the text Telegram shows for `html` is (UTF-16 units): pieces' rules, nothing made but an entity's text. */
export function plainLength(html: string): number {
  // (Tags and entities only shorten: a text no longer than `max` as HTML is no longer as plain text.)
  let n = 0;
  for (let i = 0; i < html.length; ) {
    const c = html.charCodeAt(i);
    const re = c === 60 ? TAG_AT : c === 38 ? ENTITY_AT : undefined;
    if (re) {
      re.lastIndex = i;
      // As pieces reads them: a tag or an entity within 300 characters of where it starts.
      if (re.test(html) && re.lastIndex - i <= 300) {
        if (c === 38) n += decodeEntity(html.slice(i, re.lastIndex)).length;
        i = re.lastIndex;
        continue;
      }
    }
    n++;
    i++;
  }
  return n;
}
const TAG_AT = new RegExp(TAG_RE.source.slice(1), 'iy');
const ENTITY_AT = new RegExp(ENTITY_RE.source.slice(1), 'iy');

const closeTag = (open: { name: string }) => `</${open.name}>`;

/**
 * Splits `html` into parts of at most `max` characters of plain text each (UTF-16 units), every
 * part a balanced fragment; the parts' plain texts joined are the input's plain text.
 */
export function splitHtml(html: string, max: number): string[] {
  if (html.length <= max || plainLength(html) <= max) return [html];
  const parts: string[] = [];
  const open: { name: string; html: string }[] = [];
  let cur: Token[] = [];
  let curLen = 0;
  /** Index in `cur` just after the last newline, and the open tags there. */
  let lastBreak = -1;
  let openAtBreak: { name: string; html: string }[] = [];

  /** The tags open where the current part begins (reopened at its start). */
  let prefixOpen: { name: string; html: string }[] = [];
  /** Ends the current part with `tokens`, reopening `prefixOpen` before and closing `closeWith` after. */
  const emit = (tokens: Token[], closeWith: { name: string; html: string }[]) => {
    parts.push(prefixOpen.map((t) => t.html).join('') + tokens.map((t) => t.html).join('') + [...closeWith].reverse().map(closeTag).join(''));
    prefixOpen = [...closeWith];
  };
  const cut = () => {
    if (lastBreak > 0 && lastBreak < cur.length) {
      emit(cur.slice(0, lastBreak), openAtBreak);
      cur = cur.slice(lastBreak);
      curLen = cur.reduce((n, t) => n + (t.kind === 'text' ? t.plain.length : 0), 0);
    } else {
      emit(cur, open);
      cur = [];
      curLen = 0;
    }
    lastBreak = -1;
    openAtBreak = [];
  };

  // A grapheme cluster longer than a whole part (a pathological run of combining marks) is cut
  // between its code points: never between the two halves of a surrogate pair.
  const tokens = tokenize(html).flatMap((t): Token[] => (t.kind === 'text' && t.plain.length > max && t.html === t.plain ? [...t.plain].map((c) => ({ kind: 'text', html: c, plain: c })) : [t]));
  for (const t of tokens) {
    if (t.kind === 'text') {
      // (Cutting at the last line end may leave a tail that still does not fit: cut again.)
      while (curLen + t.plain.length > max && curLen > 0) cut();
      cur.push(t);
      curLen += t.plain.length;
      if (t.plain === '\n' || t.plain.endsWith('\n')) {
        lastBreak = cur.length;
        openAtBreak = [...open];
      }
    } else if (t.kind === 'open') {
      open.push({ name: t.name, html: t.html });
      cur.push(t);
    } else {
      const at = open.map((o) => o.name).lastIndexOf(t.name);
      if (at >= 0) open.splice(at, 1);
      cur.push(t);
    }
  }
  if (cur.length) emit(cur, open);
  return parts;
}

/**
 * Shortens `html` to at most `max` plain characters, ending with `tail` (plain text), cut between
 * whole grapheme clusters and balanced.
 */
export function shortenHtml(html: string, max: number, tail: string): string {
  if (html.length <= max || plainLength(html) <= max) return html;
  const budget = Math.max(0, max - plainLength(tail));
  const open: { name: string }[] = [];
  let out = '';
  let len = 0;
  // Read as far as the budget goes, and segment only the run the cut falls in: a run that fits
  // whole is taken whole (its clusters would all fit).
  for (const t of tokens(html, (run) => len + run.length <= budget)) {
    if (t.kind === 'text') {
      if (len + t.plain.length > budget) break;
      out += t.html;
      len += t.plain.length;
    } else if (t.kind === 'open') {
      open.push({ name: t.name });
      out += t.html;
    } else {
      const at = open.map((o) => o.name).lastIndexOf(t.name);
      if (at >= 0) open.splice(at, 1);
      out += t.html;
    }
  }
  return out + [...open].reverse().map(closeTag).join('') + tail;
}
