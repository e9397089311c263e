// Reading the append-only event logs `events/YYYY-MM-DD/<node>.jsonl` from a remembered position.
// Only complete lines are consumed: a final line without its newline waits for it.
import { promises as fs, constants as C, type Dirent } from 'node:fs';
import path from 'node:path';
import { storageError } from '../errors.js';
import { NAME_RE, MAX_EVENT_LINE_BYTES } from '../domain/schemas.js';

export const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
const FILE_RE = /^(.+)\.jsonl$/;
const HEAD_BYTES = 64;

/** Where reading of one file stopped. */
export interface FilePos {
  /** Inode of the file read; another inode means the file was replaced. */
  ino: number;
  /** Byte offset of the first unread byte (always the start of a line unless `skip`). */
  offset: number;
  /** Lines consumed so far (for messages: the next line is line + 1). */
  line: number;
  /** Inside an over-long line: discard everything up to the next newline. */
  skip: boolean;
  /** Hex of the file's first bytes, to notice a file deleted and recreated on the same inode. */
  head: string;
}

export function freshPos(ino: number): FilePos {
  return { ino, offset: 0, line: 0, skip: false, head: '' };
}

export interface EventFile {
  node: string;
  day: string;
  path: string;
}

async function readdirSafe(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/** The event file `name` of `day`, when it is one the observer reads (listEventFiles' rules, without the file type). */
export function eventFileOf(eventsDir: string, day: string, name: string): EventFile | undefined {
  if (!DAY_RE.test(day) || name.startsWith('.')) return undefined;
  const m = FILE_RE.exec(name);
  if (!m || !NAME_RE.test(m[1]!)) return undefined;
  return { node: m[1]!, day, path: path.join(eventsDir, day, name) };
}

/**
 * Lists event files grouped by node, oldest day first. Dot-names, symlinks, FIFOs and names that
 * are not valid node names are never opened.
 */
export async function listEventFiles(eventsDir: string): Promise<Map<string, EventFile[]>> {
  const byNode = new Map<string, EventFile[]>();
  const days = (await readdirSafe(eventsDir)).filter((d) => d.isDirectory() && DAY_RE.test(d.name)).map((d) => d.name);
  days.sort();
  for (const day of days) {
    for (const entry of await readdirSafe(path.join(eventsDir, day))) {
      const file = entry.isFile() ? eventFileOf(eventsDir, day, entry.name) : undefined;
      if (!file) continue;
      let list = byNode.get(file.node);
      if (!list) byNode.set(file.node, (list = []));
      list.push(file);
    }
  }
  return byNode;
}

export interface ReadOutcome {
  pos: FilePos;
  /** Bytes consumed in this call. */
  bytes: number;
  /** True when everything complete in the file was read (what is left is a partial line, if anything). */
  caughtUp: boolean;
  /** Why the position was reset to the start, if it was. */
  reset?: 'replaced' | 'truncated';
}

export interface LineSink {
  /**
   * One complete line without its newline (and CR): decoded text when the whole chunk is valid
   * UTF-8 (decoded once, not line by line), else the line's bytes for the caller to judge.
   */
  line(line: string | Uint8Array, lineNo: number): void;
  oversized(lineNo: number): void;
}

// BOMs are kept: each line is judged on its own (parseEventLine drops a leading one).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The chunk's complete lines as one string, or undefined when it is not all valid UTF-8. */
function decodeLines(data: Buffer, from: number, to: number): string | undefined {
  try {
    return utf8.decode(data.subarray(from, to));
  } catch {
    return undefined;
  }
}

/**
 * Reads complete lines from `file` starting at `pos`, at most about `budget` bytes, and hands each
 * to `sink`. Returns the new position. A file that is not a regular file is not read.
 */
export async function readLines(file: string, pos: FilePos | undefined, budget: number, sink: LineSink): Promise<ReadOutcome | undefined> {
  let fd: fs.FileHandle;
  try {
    fd = await fs.open(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return undefined;
    throw err;
  }
  try {
    const st = await fd.stat();
    if (!st.isFile()) return undefined;
    let p: FilePos = pos ? { ...pos } : freshPos(st.ino);
    let reset: ReadOutcome['reset'];
    if (p.ino !== st.ino) {
      p = freshPos(st.ino);
      reset = 'replaced';
    } else if (st.size < p.offset) {
      p = freshPos(st.ino);
      reset = 'truncated';
    } else if (st.size > p.offset && p.head.length > 0) {
      // Same inode, more data: make sure it is still the same file (inode numbers get reused).
      const head = Buffer.alloc(p.head.length / 2);
      await fd.read(head, 0, head.length, 0);
      if (head.toString('hex') !== p.head) {
        p = freshPos(st.ino);
        reset = 'replaced';
      }
    }
    if (st.size === p.offset) return { pos: p, bytes: 0, caughtUp: true, reset };
    const start = p.offset;
    let data = await readAt(fd, start, Math.min(st.size - start, budget));
    if (data.indexOf(0x0a) === -1 && start + data.length < st.size && data.length <= MAX_EVENT_LINE_BYTES) {
      // Not one whole line within the budget: read enough to find the line's end or prove it too long.
      data = await readAt(fd, start, Math.min(st.size - start, MAX_EVENT_LINE_BYTES + 1));
    }
    if (p.head.length < HEAD_BYTES * 2 && start === 0) p.head = data.subarray(0, Math.min(HEAD_BYTES, data.length)).toString('hex');
    let i = 0;
    if (p.skip) {
      const nl = data.indexOf(0x0a);
      if (nl === -1) {
        p.offset = start + data.length;
        return { pos: p, bytes: data.length, caughtUp: start + data.length >= st.size, reset };
      }
      p.line++;
      sink.oversized(p.line);
      p.skip = false;
      i = nl + 1;
    }
    // A newline byte never occurs inside a UTF-8 sequence: the k-th "\n" of the decoded text is
    // the k-th newline byte, so lines are cut from the text while sizes are judged in bytes.
    const text = decodeLines(data, i, data.lastIndexOf(0x0a) + 1);
    let t = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, i);
      if (nl === -1) break;
      p.line++;
      let lineEnd = nl;
      if (lineEnd > i && data[lineEnd - 1] === 0x0d) lineEnd--;
      const tnl = text === undefined ? -1 : text.indexOf('\n', t);
      if (lineEnd - i > MAX_EVENT_LINE_BYTES) sink.oversized(p.line);
      else if (!isBlank(data, i, lineEnd)) sink.line(text === undefined ? data.subarray(i, lineEnd) : text.slice(t, tnl - (nl - lineEnd)), p.line);
      i = nl + 1;
      t = tnl + 1;
    }
    const rest = data.length - i;
    if (rest > MAX_EVENT_LINE_BYTES) {
      // An over-long line still being written: drop what is here and the rest up to its newline.
      p.skip = true;
      i = data.length;
    }
    p.offset = start + i;
    return { pos: p, bytes: i, caughtUp: start + data.length >= st.size, reset };
  } finally {
    await fd.close();
  }
}

async function readAt(fd: fs.FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fd.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

function isBlank(data: Uint8Array, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = data[k];
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}

const appendQueues = new Map<string, Promise<void>>();

/** One file's writes (appends, removal) one after another in this process. */
async function serially<T>(file: string, io: () => Promise<T>): Promise<T> {
  const next = (appendQueues.get(file) ?? Promise.resolve()).then(io);
  const settled = next.then(
    () => {},
    () => {},
  );
  appendQueues.set(file, settled);
  try {
    return await next;
  } finally {
    if (appendQueues.get(file) === settled) appendQueues.delete(file);
  }
}

/**
 * Removes an event file that retention has folded into the snapshot — only while it is still the
 * file read (`ino`) and holds exactly the `size` bytes read. It is first renamed to a dot-name
 * (readers skip those; an append by another process then makes a new file), then checked again:
 * grown in between, it is put back (or kept under the dot-name, said, when a new file took its
 * place) and nothing read is lost. In this process, appends and the removal take turns.
 */
export function removeEventFile(file: string, expect: { ino: number; size: number }): Promise<'removed' | 'changed' | 'gone'> {
  return serially(file, async () => {
    const st = await fs.lstat(file).catch(() => undefined);
    if (!st) return 'gone';
    if (!st.isFile() || st.ino !== expect.ino || st.size !== expect.size) return 'changed';
    const aside = path.join(path.dirname(file), `.${path.basename(file)}.removing`);
    await fs.rename(file, aside);
    const after = await fs.lstat(aside);
    if (after.size !== expect.size) {
      // An append landed between the check and the rename: the file goes back, read on later.
      await fs.link(aside, file).then(
        () => fs.unlink(aside),
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
          throw storageError(new Error(`${file} grew while it was being removed and a new file took its place; its unread lines are kept in ${aside}`), file);
        },
      );
      return 'changed';
    }
    await fs.unlink(aside);
    return 'removed';
  });
}

/**
 * Opens an event file for appending, making its day's directory. A day retention removed may
 * come back (a late event, a spool delivered after days offline); one removed between the mkdir
 * and the open (retention emptying it) is made again.
 */
async function openForAppend(dayDir: string, file: string): Promise<fs.FileHandle> {
  for (let attempt = 0; ; attempt++) {
    await fs.mkdir(dayDir, { recursive: true });
    try {
      return await fs.open(file, C.O_WRONLY | C.O_APPEND | C.O_CREAT | C.O_NOFOLLOW, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
    }
  }
}

/** Removes an event day's directory once it is empty (a day still holding a file stays). */
export async function removeEmptyDay(eventsDir: string, day: string): Promise<boolean> {
  try {
    await fs.rmdir(path.join(eventsDir, day));
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Appends events of one node as whole lines to `events/<day of ts>/<node>.jsonl`: one write per
 * file, synced, one writer per file at a time in this process. Used by the ingest route and the
 * agent's local output alike.
 */
export async function appendEventLines(eventsDir: string, node: string, events: readonly { ts: string; line: string }[]): Promise<void> {
  const byDay = new Map<string, string[]>();
  for (const e of events) {
    const day = new Date(Date.parse(e.ts)).toISOString().slice(0, 10);
    byDay.set(day, [...(byDay.get(day) ?? []), e.line]);
  }
  for (const [day, lines] of byDay) {
    const file = path.join(eventsDir, day, `${node}.jsonl`);
    await serially(file, async () => {
      const fd = await openForAppend(path.join(eventsDir, day), file);
      try {
        await fd.appendFile(`${lines.join('\n')}\n`);
        await fd.datasync();
      } finally {
        await fd.close();
      }
    }).catch((err: unknown) => {
      throw storageError(err, file);
    });
  }
}
