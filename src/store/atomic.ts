// The one way this product writes a file (docs/design/files.md): a dot-named temp file in the same directory,
// fsync, rename over the final name, fsync of the directory. Readers ignore dot-names, so they see
// either the old file or the new one, never half of one.
import { randomBytes } from 'node:crypto';
import { lstatSync, promises as fs, constants as C } from 'node:fs';
import path from 'node:path';
import { storageError } from '../errors.js';

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await fs.open(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

export function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes `data` to `file` atomically and durably. A full disk is a StorageFullError. */
export async function writeFileAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  try {
    await writeAtomic(file, data);
  } catch (err) {
    throw storageError(err, file);
  }
}

async function writeAtomic(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  const tmp = await writeTemp(file, data);
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

/**
 * Writes `data` to a new temp file beside `file` (created exclusively, never through a symlink)
 * and syncs it; returns its name. A write that fails (a full disk) leaves no temp file behind.
 * The one way both the atomic writer (rename over) and the action store's publish (link, which
 * never overwrites) put bytes on disk.
 */
export async function writeTemp(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<string> {
  return (await writeTempFile(file, data, false)).tmp;
}

/**
 * writeTemp, and the file's `writtenVersion` as written: what every name it is renamed or linked
 * to shows until the file itself changes. Taken from the open file before any name but the temp
 * one (which only its writer uses) leads to it, so no change by another can pass for this write.
 */
export async function writeTempKnown(file: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<{ tmp: string; written: string }> {
  const { tmp, written } = await writeTempFile(file, data, true);
  return { tmp, written: written! };
}

async function writeTempFile(file: string, data: string | Uint8Array | readonly Uint8Array[], known: boolean): Promise<{ tmp: string; written?: string }> {
  const tmp = tempName(file);
  const fd = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o644);
  let written: string | undefined;
  try {
    if (Array.isArray(data)) await writeParts(fd, data as readonly Uint8Array[]);
    else await fd.writeFile(data as string | Uint8Array);
    await fd.sync();
    if (known) written = writtenVersion(await fd.stat({ bigint: true }));
  } catch (err) {
    await fd.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fd.close();
  return { tmp, written };
}

/**
 * A text in parts (grouped-json.ts) written as it is, with writev(2): its bytes are neither joined
 * nor encoded again on this thread. At most IOV_MAX parts a call; a short write goes on where it
 * stopped.
 */
async function writeParts(fd: fs.FileHandle, parts: readonly Uint8Array[]): Promise<void> {
  for (let i = 0; i < parts.length; i += IOV_MAX) {
    const batch = parts.slice(i, i + IOV_MAX);
    const total = batch.reduce((n, b) => n + b.byteLength, 0);
    const { bytesWritten } = await fd.writev(batch as Uint8Array[]);
    if (bytesWritten < total) await fd.writeFile(Buffer.concat(batch).subarray(bytesWritten));
  }
}
const IOV_MAX = 1024;

/** A file's identity and version: an atomic write (a rename over it) changes it; 'none' when absent. */
export function fileStamp(file: string): string {
  const st = lstatSync(file, { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.mtimeMs}:${st.size}` : 'none';
}

export function stableJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, stableJson(value));
}

/** Reads a regular file without following a symlink or blocking on a FIFO. undefined if absent. */
export async function readRegularFile(file: string): Promise<Buffer | undefined> {
  return (await readRegularFileStat(file))?.data;
}

/**
 * The same, with an identity of the version read (device, inode, size, change times) taken
 * from the open file itself, so it always describes the bytes returned.
 */
export async function readRegularFileStat(file: string): Promise<{ data: Buffer; version: string } | undefined> {
  let fd: fs.FileHandle;
  try {
    fd = await fs.open(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new Error(`${file} is a symbolic link; refusing to follow it`);
    throw err;
  }
  try {
    const st = await fd.stat({ bigint: true });
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    return { data: await fd.readFile(), version: fileVersion(st) };
  } finally {
    await fd.close();
  }
}

/** What changes whenever a file is replaced or written: its identity for caches. */
export function fileVersion(st: import('node:fs').BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/**
 * A file's identity without its change time: what a file keeps while names are linked to it or
 * unlinked from it (each of which changes its ctime), and loses once written. Only for a file
 * whose writer knows it by this (writeTempKnown); fileVersion is what a reader compares.
 */
export function writtenVersion(st: import('node:fs').BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

/** Maps with at most `limit` calls in flight (file reads go to libuv's small thread pool). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function readJsonFile(file: string): Promise<unknown | undefined> {
  const buf = await readRegularFile(file);
  if (buf === undefined) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new Error(`${file}: invalid JSON (${(err as Error).message})`);
  }
}

/** What reading a JSON file back through its schema found (each caller says it in its own words). */
export type Checked<T> = { ok: true; value: T } | { ok: false; why: 'none' } | { ok: false; why: 'unreadable'; err: unknown } | { ok: false; why: 'invalid'; problem: string | undefined };

/** Reads a JSON file and checks it against `schema`: its value, or none, unreadable or invalid. */
export async function readChecked<T>(file: string, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } } }): Promise<Checked<T>> {
  let raw: unknown;
  try {
    raw = await readJsonFile(file);
  } catch (err) {
    return { ok: false, why: 'unreadable', err };
  }
  if (raw === undefined) return { ok: false, why: 'none' };
  const parsed = schema.safeParse(raw);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, why: 'invalid', problem: parsed.error.issues[0]?.message };
}

/** Removes temp files a crash left behind (`.<name>.<pid>.<rand>.tmp`). Returns what it removed. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      await fs.rm(path.join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}
