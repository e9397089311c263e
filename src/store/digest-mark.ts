// state/telegram/digest.json: when the last daily digest was sent (the next one covers what
// happened since). Read back through its schema: a file that fails it counts as no digest yet
// (the next one then covers the last day), said in one line.
import { telegramFiles } from './paths.js';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { readChecked, writeJsonAtomic } from './atomic.js';

const MarkSchema = z.object({ version: z.literal(1), last_at: z.string() });

export class DigestMark {
  private readonly file: string;

  constructor(
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.file = telegramFiles(stateDir).digest;
  }

  /** When the last digest was sent, or null (none yet, or a file that is not this version's). */
  async lastAt(): Promise<string | null> {
    const r = await readChecked(this.file, MarkSchema);
    if (r.ok) return r.value.last_at;
    if (r.why === 'none') return null;
    this.log.warn({ file: this.file }, 'the record of the last digest is unreadable; the next digest covers the last day');
    return null;
  }

  async sent(at: number): Promise<void> {
    await writeJsonAtomic(this.file, { version: 1, last_at: new Date(at).toISOString() });
  }
}
