// What every command shares: option parsing with did-you-mean, tables, -o json, yes/no questions.
import { createInterface } from 'node:readline/promises';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { durationSettingMs } from '../config.js';
import { statesFrom, type ActionState } from '../domain/actions.js';
import { USAGE, HELP } from './help.js';

export class UsageError extends Error {}

/** A command: its arguments after the name, the environment → the exit code. */
export type Command = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

export type Opts = Record<string, { type: 'string' | 'boolean'; short?: string }>;
export function parse(command: string, argv: string[], options: Opts): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    throw new UsageError(`${optionProblem((err as Error).message, Object.keys(options))}\n\n${HELP[command] ?? USAGE}`);
  }
}

/** Node's parser error in our words: `unknown option --stat (did you mean --state?)`. */
function optionProblem(message: string, options: readonly string[]): string {
  const unknown = /^Unknown option '(-{1,2}[^']*)'/.exec(message)?.[1];
  if (unknown) {
    const guess = didYouMean(unknown.replace(/^-+/, '').split('=')[0]!, [...options, 'help']);
    return `unknown option ${unknown}${guess ? ` (did you mean --${guess}?)` : ''}`;
  }
  const missing = /^Option '(-{1,2}[^']*?)(?: <value>)?' argument missing/.exec(message)?.[1];
  if (missing) return `${missing.split(',').at(-1)!.trim()} needs a value`;
  return message.split('. To specify')[0]!;
}

/** The candidate closest to `word` (two edits at most, or a prefix of it), if any. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length]![b.length]!;
  };
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 3 ? 1 : dist(word, c);
    if (d <= 2 && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

export const OUTPUT: Opts = { output: { type: 'string', short: 'o' }, json: { type: 'boolean' } };

export function outputFormat(values: Record<string, string | boolean | undefined>): 'table' | 'json' {
  const o = (values.output as string | undefined) ?? (values.json ? 'json' : 'table');
  if (o !== 'table' && o !== 'json') throw new UsageError(`-o must be table or json, not ${JSON.stringify(o)}`);
  return o;
}

/** Columns padded to their widest cell, with a header, as kubectl prints them. */
export function table(headers: string[], rows: string[][]): string {
  const width = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ').trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/** `--state pending,failed` → the states (domain/actions.ts `statesFrom`); a bad one is a usage error. */
export function statesOf(text: string | undefined): ActionState[] {
  try {
    return statesFrom(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Asks a yes/no question on the terminal; anything but y or yes is no. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function seconds(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined || text === '') return fallback;
  const n = durationSettingMs(text);
  if (!Number.isFinite(n) || n < 1000) throw new UsageError(`${what}: ${JSON.stringify(text)} is not a duration of at least 1 s (e.g. 30, 30s, 2m)`);
  return n;
}

export async function untilSignal(): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'cli';
  }
}
