// The action files as parsed (docs/design/claims.md): a file is parsed again only when one
// lstat(2) says it changed, and not even looked at while the index holds it as checked; a file
// this store wrote itself is known without reading it back.
import { lstatSync } from 'node:fs';
import { ActionSchema, type Action } from '../domain/actions.js';
import type { ActionIndex } from './action-index.js';
import { fileVersion, mapLimit, readRegularFileStat, writtenVersion } from './atomic.js';

/**
 * One file as last seen: by a read (`version` is its fileVersion) or as this store wrote it
 * (`written`: its writtenVersion, and its text until first asked for, parsed then).
 */
interface Entry {
  version: string;
  written: boolean;
  action: Action | undefined;
  text?: string;
}

export class ParsedActions {
  constructor(private readonly index: ActionIndex) {}

  /**
   * Parsed action files by path, with the version (inode, size, times) they were read at. A file
   * is parsed again only when one lstat(2) says it changed: every pass of the supervisor reads all
   * open actions, and this keeps that one cheap system call each.
   */
  private readonly cache = new Map<string, Entry>();
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
      if (hit) out[i] = this.actionOf(hit);
      else misses.push(i);
    });
    const read = await mapLimit(misses, 8, (i) => this.read(files[i]!));
    misses.forEach((i, k) => (out[i] = read[k]));
    return out;
  }

  async read(file: string): Promise<Action | undefined> {
    const hit = this.kept(file);
    if (hit) return this.actionOf(hit);
    const start = this.index.begin();
    const action = await this.readActionFile(file);
    if (this.cache.has(file)) this.index.rememberCheck(file, start);
    return action;
  }

  /**
   * This store published `text` under `file` just now, as written by writeTempKnown (`written`):
   * the next look at `file` finds it by one lstat(2), not a read, while the file is that one.
   * A burst of its own writes (a thousand proposals) costs the readers after it no reads: the
   * watcher's echo of each write names a file that is still what the store left there. Said after
   * the name exists (a read that found no file forgets what it held of the name).
   */
  wrote(file: string, written: string, text: string): void {
    this.keep(file, { version: written, written: true, action: undefined, text });
  }

  /** The parsed file, when the index holds it as checked (no system call). */
  private kept(file: string): Entry | undefined {
    return this.index.checked(file) ? this.cache.get(file) : undefined;
  }

  private actionOf(entry: Entry): Action | undefined {
    if (entry.text !== undefined) {
      entry.action = parseAction(entry.text);
      delete entry.text;
    }
    return entry.action;
  }

  private keep(file: string, entry: Entry): void {
    this.cache.delete(file);
    this.cache.set(file, entry);
    if (this.cache.size > ParsedActions.CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
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
    if (hit && hit.version === (hit.written ? writtenVersion(st) : fileVersion(st))) return this.actionOf(hit);
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
    const action = parseAction(read.data.toString('utf8'));
    this.keep(file, { version: read.version, written: false, action });
    return action;
  }
}

/** An action file's text as an action (frozen: every reader shares it), or undefined when it is not one. */
function parseAction(text: string): Action | undefined {
  try {
    const parsed = ActionSchema.safeParse(JSON.parse(text));
    return parsed.success ? Object.freeze(parsed.data) : undefined;
  } catch {
    return undefined;
  }
}
