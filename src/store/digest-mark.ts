// state/telegram/digest.json: when the last daily digest was sent (the next one covers what
// happened since); with NATS_URL, the document `digest` of HOMELAB_STATE, so a new leader's digest
// covers what happened since the last one sent by any (docs/design/leader.md). Read back through its
// schema: a record that fails it counts as no digest yet (the next one then covers the last day),
// said in one line.
import { telegramFiles } from './paths.js';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { readChecked, writeJsonAtomic } from './atomic.js';
import type { DocStore } from './doc-store.js';

const MarkSchema = z.object({ version: z.literal(1), last_at: z.string() });

export class DigestMark {
  private readonly file: string;

  constructor(
    stateDir: string,
    private readonly log: Logger,
    private readonly docs?: DocStore,
  ) {
    this.file = telegramFiles(stateDir).digest;
  }

  /** When the last digest was sent, or null (none yet, or a record that is not this version's). */
  async lastAt(): Promise<string | null> {
    if (this.docs) {
      const d = await this.docs.read('digest');
      if (d.value === undefined) return null;
      const r = MarkSchema.safeParse(d.value);
      if (r.success) return r.data.last_at;
      this.log.warn({ where: d.where }, 'the record of the last digest is unreadable; the next digest covers the last day');
      return null;
    }
    const r = await readChecked(this.file, MarkSchema);
    if (r.ok) return r.value.last_at;
    if (r.why === 'none') return null;
    this.log.warn({ file: this.file }, 'the record of the last digest is unreadable; the next digest covers the last day');
    return null;
  }

  async sent(at: number): Promise<void> {
    const mark = { version: 1, last_at: new Date(at).toISOString() };
    if (this.docs) await this.docs.write('digest', mark);
    else await writeJsonAtomic(this.file, mark);
  }
}
