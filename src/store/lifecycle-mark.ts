// state/telegram/lifecycle.json: when the control plane was last seen alive (written every minute
// and at a clean stop) and when a start was last announced in the chat, so that the next start
// can say how long it was away and a crash loop sends one message, not one per start.
import { z } from 'zod';
import { readChecked, writeJsonAtomic } from './atomic.js';
import { telegramFiles } from './paths.js';

const MarkSchema = z.object({
  version: z.literal(1),
  /** The last sign of life (event time of this machine's clock). */
  alive_at: z.string().nullable(),
  /** A clean stop, when the last run ended with one. */
  stopped_at: z.string().nullable(),
  /** When a start was last announced, and how many starts since went unannounced. */
  announced_at: z.string().nullable(),
  unannounced: z.number().int().nonnegative(),
});
export type LifecycleMark = z.infer<typeof MarkSchema>;

export const EMPTY_MARK: LifecycleMark = { version: 1, alive_at: null, stopped_at: null, announced_at: null, unannounced: 0 };

export class LifecycleFile {
  readonly file: string;

  constructor(stateDir: string) {
    this.file = telegramFiles(stateDir).lifecycle;
  }

  /** The mark, or an empty one (none yet, or one that is not this version's). */
  async read(): Promise<LifecycleMark> {
    const r = await readChecked(this.file, MarkSchema);
    return r.ok ? r.value : { ...EMPTY_MARK };
  }

  write(mark: LifecycleMark): Promise<void> {
    return writeJsonAtomic(this.file, mark);
  }
}
