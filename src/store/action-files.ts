// The action files as parsed (docs/design/claims.md): a file is parsed again only when one
// lstat(2) says it changed, and not even looked at while the index holds it as checked.
import { lstatSync } from 'node:fs';
import { ActionSchema, type Action } from '../domain/actions.js';
import type { ActionIndex } from './action-index.js';
import { fileVersion, mapLimit, readRegularFileStat } from './atomic.js';

export class ParsedActions {
  constructor(private readonly index: ActionIndex) {}

  /**
   * Parsed action files by path, with the version (inode, size, times) they were read at. A file
   * is parsed again only when one lstat(2) says it changed: every pass of the supervisor reads all
   * open actions, and this keeps that one cheap system call each.
   */
  private readonly cache = new Map<string, { version: string; action: Action | undefined }>();
  private static readonly CACHE_MAX = 20_000;

  /**
   * Many files: those the index holds as checked from the cache at once, the others read eight at
   * a time (a listing of a thousand open actions is not a thousand turns of the event loop).
   */
  async readMany(files: readonly string[]): Promise<(Action | undefined)[]> {
    const out: (Action | undefined)[] = new Array(files.length);
    const misses: number[] = [];
    files.forEach((file, i) => {
      const hit = this.kept(file);
      if (hit) out[i] = hit.action;
      else misses.push(i);
    });
    const read = await mapLimit(misses, 8, (i) => this.read(files[i]!));
    misses.forEach((i, k) => (out[i] = read[k]));
    return out;
  }

  async read(file: string): Promise<Action | undefined> {
    const hit = this.kept(file);
    if (hit) return hit.action;
    const start = this.index.begin();
    const action = await this.readActionFile(file);
    if (this.cache.has(file)) this.index.rememberCheck(file, start);
    return action;
  }

  /** The parsed file, when the index holds it as checked (no system call). */
  private kept(file: string): { action: Action | undefined } | undefined {
    return this.index.checked(file) ? this.cache.get(file) : undefined;
  }

  private async readActionFile(file: string): Promise<Action | undefined> {
    // One lstat(2) per file and pass: made synchronously, it costs microseconds where a round
    // trip through libuv's thread pool costs tens of them (docs/benchmarks.md).
    let st: import('node:fs').BigIntStats | undefined;
    try {
      st = lstatSync(file, { bigint: true, throwIfNoEntry: false });
    } catch {
      st = undefined; // ENOTDIR, EACCES: not an action we can read
    }
    if (!st) {
      this.cache.delete(file);
      return undefined;
    }
    if (!st.isFile()) return undefined; // a symlink, a FIFO or a directory is not an action
    const hit = this.cache.get(file);
    if (hit && hit.version === fileVersion(st)) return hit.action;
    let read: Awaited<ReturnType<typeof readRegularFileStat>>;
    try {
      read = await readRegularFileStat(file);
    } catch {
      return undefined; // replaced by a symlink or a FIFO since the lstat
    }
    if (!read) {
      this.cache.delete(file);
      return undefined;
    }
    let action: Action | undefined;
    try {
      const parsed = ActionSchema.safeParse(JSON.parse(read.data.toString('utf8')));
      action = parsed.success ? Object.freeze(parsed.data) : undefined;
    } catch {
      action = undefined;
    }
    this.cache.delete(file);
    this.cache.set(file, { version: read.version, action });
    if (this.cache.size > ParsedActions.CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    return action;
  }
}
