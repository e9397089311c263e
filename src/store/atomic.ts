// The one way this product writes a file (SPEC §2): a dot-named temp file in the same directory,
// fsync, rename over the final name, fsync of the directory. Readers ignore dot-names, so they see
// either the old file or the new one, never half of one.
import { randomBytes } from 'node:crypto';
import { promises as fs, constants as C } from 'node:fs';
import path from 'node:path';

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

/** Writes `data` to `file` atomically and durably. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(file);
  const fd = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o644);
  try {
    await fd.writeFile(data);
    await fd.sync();
  } catch (err) {
    await fd.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fd.close();
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

export function stableJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, stableJson(value));
}

/** Reads a regular file without following a symlink or blocking on a FIFO. undefined if absent. */
export async function readRegularFile(file: string): Promise<Buffer | undefined> {
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
    const st = await fd.stat();
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    return await fd.readFile();
  } finally {
    await fd.close();
  }
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
