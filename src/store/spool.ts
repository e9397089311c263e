// The agent's push spool (AGENT_STATE_DIR/spool/): every event is a file until the control plane
// accepted it, named `<seq, 20 digits>-<agent instance>.json` so that files sort in the order they
// were made and a new instance never overwrites an old one's unsent events. Read back through the
// event schema: a file that fails it (a torn disk, a hand edit) cannot be sent; it is set aside
// under a dot-name and said, never dropped in silence.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EventSchema, type NodeEvent } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import { readJsonFile, writeJsonAtomic } from './atomic.js';

const SPOOL_NAME = /^\d{20}(-[A-Za-z0-9._-]{1,64})?\.json$/;

export class Spool {
  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  async add(events: readonly (NodeEvent & { seq: number; agent: string })[]): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    for (const e of events) await writeJsonAtomic(path.join(this.dir, `${String(e.seq).padStart(20, '0')}-${e.agent}.json`), e);
  }

  /** The names waiting, oldest first (`<seq>.json` of older agents too). */
  async names(): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => SPOOL_NAME.test(n)).sort();
  }

  /** The oldest `max` events that can be sent, with their names; unreadable ones are set aside and said. */
  async oldest(max: number): Promise<{ names: string[]; events: NodeEvent[] }> {
    const out: { names: string[]; events: NodeEvent[] } = { names: [], events: [] };
    const aside: string[] = [];
    for (const name of (await this.names()).slice(0, max)) {
      const parsed = EventSchema.safeParse(await readJsonFile(path.join(this.dir, name)).catch(() => undefined));
      if (parsed.success) {
        out.names.push(name);
        out.events.push(parsed.data);
      } else {
        await fs.rename(path.join(this.dir, name), path.join(this.dir, `.unreadable-${name}`)).catch(() => {});
        aside.push(name);
      }
    }
    if (aside.length) this.log.warn({ dir: this.dir, files: aside }, `${aside.length} spooled event file(s) are unreadable and cannot be sent; set aside as .unreadable-<name>`);
    return out;
  }

  /** The control plane accepted these: they go. */
  async remove(names: readonly string[]): Promise<void> {
    for (const n of names) await fs.rm(path.join(this.dir, n), { force: true });
  }
}
