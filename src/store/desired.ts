// hosts/<node>/services.yaml → DesiredState. A file that does not parse or validate is reported
// with file, line and reason, and the last good version of that node stays in force.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, isScalar, visit, type Document } from 'yaml';
import { DesiredFileSchema, NAME_RE, normalizeDesired, type DesiredNode, type DesiredState } from '../domain/schemas.js';
import { dependsOnProblems } from '../domain/dependencies.js';
import type { z } from 'zod';
import { readRegularFile } from './atomic.js';

export const MAX_DESIRED_FILE_BYTES = 1024 * 1024;

export interface DesiredProblem {
  node: string;
  file: string;
  line: number;
  /** Column of a YAML syntax error, where the parser knows it. */
  col?: number;
  reason: string;
}

/** `file:line:col` (or `file:line`) as editors and compilers print it. */
export function problemWhere(p: Pick<DesiredProblem, 'file' | 'line' | 'col'>, file = p.file): string {
  return `${file}:${p.line}${p.col !== undefined ? `:${p.col}` : ''}`;
}

export type DesiredParse = { ok: true; value: DesiredNode } | { ok: false; problems: DesiredProblem[] };

function lineOf(doc: Document, counter: LineCounter, pathParts: PropertyKey[], key?: string): number {
  let node: unknown = doc.getIn(pathParts as unknown[], true);
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
    if (pair && isScalar(pair.key)) node = pair.key;
  }
  // Walk back up the path until a node with a position is found.
  for (let n = pathParts.length; (node === undefined || node === null || !(node as { range?: unknown }).range) && n > 0; n--) {
    node = doc.getIn(pathParts.slice(0, n - 1) as unknown[], true);
  }
  const range = (node as { range?: [number, number, number] } | undefined)?.range;
  return range ? counter.linePos(range[0]).line : 1;
}

/** The line and column where the node at `pathParts` starts (or its nearest parent that has a place). */
function positionOf(doc: Document, counter: LineCounter, pathParts: PropertyKey[]): { line: number; col: number } {
  for (let n = pathParts.length; n >= 0; n--) {
    const node = doc.getIn(pathParts.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return counter.linePos(node.range[0]);
  }
  return { line: 1, col: 1 };
}

/** Validates one services.yaml text. Pure (no fs): used by the loader, the agent and `check`. */
export function parseDesiredText(node: string, file: string, text: string): DesiredParse {
  const problem = (line: number, reason: string): DesiredParse => ({ ok: false, problems: [{ node, file, line, reason }] });
  if (!NAME_RE.test(node)) return problem(1, `directory name ${JSON.stringify(node)} is not a valid node name`);
  if (Buffer.byteLength(text) > MAX_DESIRED_FILE_BYTES) return problem(1, `file is larger than ${MAX_DESIRED_FILE_BYTES} bytes`);
  if (text.trim() === '') return problem(1, 'file is empty (saved half-way?); expected a `services:` map');
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: false, strict: true, logLevel: 'error' });
  // The line and column of an error from its offset (linePos is filled in only with prettyErrors).
  // A flow collection left open is noticed where the next block line starts: point at the
  // bracket that was never closed instead, which is where the fix goes.
  const where = (e: { pos: [number, number]; message: string; linePos?: [{ line: number; col: number }, ...unknown[]] }): { line: number; col: number } => {
    const flow = /^Flow (sequence|map)\b.*end with a ([\]}])/.exec(e.message);
    const opener = flow ? unclosedOpener(text, e.pos[0], flow[2] === ']' ? '[' : '{') : -1;
    const p = opener >= 0 ? counter.linePos(opener) : (e.linePos?.[0] ?? counter.linePos(e.pos[0]));
    return { line: p.line, col: p.col };
  };
  // A tag this schema does not know (`!!python/object`, a custom `!thing`) is not silently
  // read as a plain value: the file is not what its author thinks it says.
  const tagWarnings = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (tagWarnings.length > 0) {
    return { ok: false, problems: tagWarnings.map((w) => ({ node, file, ...where(w), reason: `YAML: ${w.message.split('\n')[0]}` })) };
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.flatMap((e): DesiredProblem[] => {
        if (e.code === 'DUPLICATE_KEY') {
          const dups = duplicateKeys(doc, counter);
          if (dups.length) return dups.map((d) => ({ node, file, line: d.line, reason: `YAML: duplicate key ${JSON.stringify(d.key)} (map keys must be unique)` }));
        }
        return [{ node, file, ...where(e), reason: `YAML: ${e.message.split('\n')[0]}` }];
      }),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return problem(1, `YAML: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return problem(1, 'top level must be a map with `services:` (and optionally `docker:`)');
  }
  const parsed = DesiredFileSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue): DesiredProblem[] => {
      const where = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => ({
          node,
          file,
          line: lineOf(doc, counter, issue.path, k),
          reason: `unknown key ${[...where, k].join('.')}`,
        }));
      }
      if (issue.code === 'invalid_key') {
        return [{ node, file, line: lineOf(doc, counter, issue.path), reason: `${where.join('.')}: service name must match ${NAME_RE.source}` }];
      }
      const label = where.length ? where.join('.') : 'file';
      return [{ node, file, line: lineOf(doc, counter, issue.path), reason: `${label}: ${inWords(issue, data)}` }];
    });
    return { ok: false, problems };
  }
  const deps = dependsOnProblems(parsed.data.services);
  if (deps.length) {
    return { ok: false, problems: deps.map((d) => ({ node, file, ...positionOf(doc, counter, ['services', d.service, 'depends_on', d.index]), reason: `services.${d.service}.depends_on: ${d.reason}` })) };
  }
  const value = normalizeDesired(node, parsed.data);
  const tls = value.docker.tls;
  // TLS files named relative to the node's folder, as the file that names them is.
  if (tls) value.docker.tls = { ca: path.resolve(path.dirname(file), tls.ca), cert: path.resolve(path.dirname(file), tls.cert), key: path.resolve(path.dirname(file), tls.key) };
  return { ok: true, value };
}

const KIND_WORDS: Record<string, string> = {
  record: 'a map (key: value lines)',
  object: 'a map (key: value lines)',
  array: 'a list, e.g. [a, b]',
  boolean: 'true or false',
  string: 'text',
  number: 'a number',
};

/** A schema problem in an operator's words, not zod's ("expected record, received undefined"). */
function inWords(issue: z.core.$ZodIssue, data: unknown): string {
  if (issue.code !== 'invalid_type') return issue.message;
  const want = KIND_WORDS[issue.expected] ?? issue.expected;
  let value: unknown = data;
  for (const k of issue.path) value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined;
  if (value === undefined) return issue.path.length === 1 && issue.path[0] === 'services' ? 'missing: a services.yaml needs `services:`, a map of service names (`services: {}` for none)' : `missing: it must be ${want}`;
  const got = value === null ? 'empty' : JSON.stringify(value);
  // YAML 1.2 reads yes/no/on/off as text: the usual surprise.
  const hint = issue.expected === 'boolean' && typeof value === 'string' && /^(yes|no|on|off|y|n)$/i.test(value) ? ` (write ${/^(yes|on|y)$/i.test(value) ? 'true' : 'false'}: YAML 1.2 reads ${value} as text)` : '';
  return `must be ${want}, not ${got}${hint}`;
}

/** Offset of the last `open` bracket before `end` that no bracket closes (quotes and comments skipped), or -1. */
function unclosedOpener(text: string, end: number, open: '[' | '{'): number {
  const stack: { ch: string; at: number }[] = [];
  let quote: string | null = null;
  for (let i = 0; i < end && i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) while (i < end && text[i] !== '\n') i++;
    else if (c === '[' || c === '{') stack.push({ ch: c, at: i });
    else if ((c === ']' || c === '}') && stack.length) stack.pop();
  }
  for (let k = stack.length - 1; k >= 0; k--) if (stack[k]!.ch === open) return stack[k]!.at;
  return -1;
}

/** The second and later occurrences of a key in any map, with their lines. */
function duplicateKeys(doc: Document, counter: LineCounter): { key: string; line: number }[] {
  const out: { key: string; line: number }[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const k = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(k)) {
          const range = (pair.key as { range?: [number, number, number] } | null)?.range;
          out.push({ key: String(k), line: range ? counter.linePos(range[0]).line : 1 });
        }
        seen.add(k);
      }
    },
  });
  return out;
}

export interface DesiredLoad {
  desired: DesiredState;
  /** Problems per node; a node listed here kept its last good version (if it had one). */
  problems: DesiredProblem[];
  /** Content of each file read, to tell a change of a bad file from the same bad file. */
  fingerprints: Record<string, string>;
}

/** Reads every hosts/<node>/services.yaml. `lastGood` supplies the version kept for a broken file. */
export async function loadDesired(hostsDir: string, lastGood: DesiredState = {}): Promise<DesiredLoad> {
  const desired: DesiredState = {};
  const problems: DesiredProblem[] = [];
  const fingerprints: Record<string, string> = {};
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(hostsDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { desired, problems: [{ node: '', file: hostsDir, line: 0, reason: 'hosts directory does not exist' }], fingerprints };
    }
    throw err;
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const node = entry.name;
    const file = path.join(hostsDir, node, 'services.yaml');
    let buf: Buffer | undefined;
    try {
      buf = await readRegularFile(file);
    } catch (err) {
      problems.push({ node, file, line: 0, reason: (err as Error).message });
      if (lastGood[node]) desired[node] = lastGood[node];
      continue;
    }
    if (buf === undefined) {
      // A directory without services.yaml is not a node, but a misnamed file is a mistake to say.
      const yml = path.join(hostsDir, node, 'services.yml');
      if (await fs.lstat(yml).then(() => true, () => false)) {
        problems.push({ node, file: yml, line: 0, reason: `found services.yml, but the file must be named services.yaml (mv ${JSON.stringify(yml)} ${JSON.stringify(file)})` });
      }
      continue;
    }
    const yml = path.join(hostsDir, node, 'services.yml');
    if (await fs.lstat(yml).then(() => true, () => false)) {
      problems.push({ node, file: yml, line: 0, reason: 'services.yml next to services.yaml is ignored: remove it or merge it into services.yaml' });
    }
    fingerprints[node] = `${buf.length}:${hashText(buf)}`;
    const result = parseDesiredText(node, file, buf.toString('utf8'));
    if (result.ok) {
      desired[node] = result.value;
    } else {
      problems.push(...result.problems);
      if (lastGood[node]) desired[node] = lastGood[node];
    }
  }
  return { desired, problems, fingerprints };
}

function hashText(buf: Buffer): string {
  // FNV-1a: enough to tell one version of a small file from another.
  let h = 0x811c9dc5;
  for (const b of buf) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16);
}

/** Holds the desired state in force: the last good version of every node. */
export class DesiredStore {
  private state: DesiredState = {};
  private lastProblems: DesiredProblem[] = [];
  private lastFingerprints: Record<string, string> = {};

  constructor(private readonly hostsDir: string) {}

  /** Re-reads hosts/. Returns whether the state in force or the set of problems changed. */
  async reload(): Promise<{ changed: boolean; problems: DesiredProblem[] }> {
    const load = await loadDesired(this.hostsDir, this.state);
    const changed =
      JSON.stringify(load.fingerprints) !== JSON.stringify(this.lastFingerprints) ||
      JSON.stringify(load.problems) !== JSON.stringify(this.lastProblems);
    // Unchanged files keep the object in force: who worked something out of it keeps it.
    if (changed) this.state = load.desired;
    this.lastProblems = load.problems;
    this.lastFingerprints = load.fingerprints;
    return { changed, problems: load.problems };
  }

  current(): DesiredState {
    return this.state;
  }

  problems(): readonly DesiredProblem[] {
    return this.lastProblems;
  }
}
