// The mirror's copies of another control plane's world files: a directory of its own, each file
// compared with what is there and replaced atomically only when it changed (mirror/mirror.ts
// fetches and checks them).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';

export class MirrorFiles {
  constructor(readonly dir: string) {}

  prepare(): Promise<string | undefined> {
    return fs.mkdir(this.dir, { recursive: true });
  }

  /** Writes `text` as `name` unless the copy there already holds it; true when it wrote. */
  async replace(name: string, text: string): Promise<boolean> {
    const dest = path.join(this.dir, name);
    const current = await fs.readFile(dest, 'utf8').catch(() => undefined);
    if (current === text) return false;
    await writeFileAtomic(dest, text);
    return true;
  }
}
