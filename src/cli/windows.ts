// What `silence` and `maintenance` share: a window for a node or a service (store/target-windows.ts),
// added for a duration after the target is checked against hosts/, and listed.
import { realClock } from '../time/clock.js';
import { parseDuration } from '../domain/duration.js';
import { unknownTarget } from '../domain/schemas.js';
import type { TargetWindows } from '../store/target-windows.js';
import { UsageError, table, userName } from './args.js';
import { config, desiredNow } from './context.js';

/** Adds (or extends) a window; exit 1 when the target is not in hosts/. `done`: the verb said. */
export async function addWindow(windows: TargetWindows, env: NodeJS.ProcessEnv, target: string, duration: string, opts: { reason?: string; by?: string }, words: { done: string; extended: string; refused: string }): Promise<number> {
  let ms: number;
  try {
    ms = parseDuration(duration);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const unknown = unknownTarget(await desiredNow(env, config(env)), target);
  if (unknown) {
    process.stderr.write(`control-plane: ${words.refused}: ${unknown}\n`);
    return 1;
  }
  const s = await windows.add(target, ms, realClock.now(), { ...(opts.reason ? { reason: opts.reason } : {}), by: opts.by ?? userName() });
  process.stdout.write(`${s.merged ? words.extended : words.done} ${s.target} until ${s.until} (id ${s.id})\n`);
  return 0;
}

/** The active windows as a table or JSON. */
export async function listWindows(windows: TargetWindows, format: 'table' | 'json', none: string): Promise<number> {
  const list = await windows.active(realClock.now());
  if (format === 'json') process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
  else if (list.length === 0) process.stdout.write(`${none}\n`);
  else process.stdout.write(table(['ID', 'TARGET', 'UNTIL', 'BY', 'REASON'], list.map((x) => [x.id, x.target, x.until.slice(0, 19).replace('T', ' '), x.by ?? '', x.reason ?? ''])));
  return 0;
}

/** Removes windows by id or target; exit 1 when there was none. */
export async function removeWindows(windows: TargetWindows, what: string, none: string, done: string): Promise<number> {
  const n = await windows.remove(what);
  if (n === 0) {
    process.stderr.write(`control-plane: ${none} ${what}\n`);
    return 1;
  }
  process.stdout.write(`${done.replace('N', String(n))}\n`);
  return 0;
}
