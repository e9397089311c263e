// state/interrupted-redeploys.json: the operations a stop or a kill interrupted, so that the next
// start puts their containers right before anything else runs on their node (docs/design/executor.md).
// With NATS_URL, the document `interrupted` of HOMELAB_STATE instead, so that a new leader puts
// right what the dead one left (docs/design/leader.md); a write there is a compare-and-set on what
// this process last read or wrote. Read back through a schema: a record that fails it is said once
// and counts as empty (the containers are then left as they are, as before the file existed).
import { z } from 'zod';
import type { Logger } from '../log.js';
import { readChecked, writeJsonAtomic } from './atomic.js';
import type { DocStore } from './doc-store.js';

const InterruptedSchema = z.object({
  id: z.string(),
  instance: z.string(),
  node: z.string(),
  containers: z.array(z.string()),
  /**
   * A container_restart: `containers` are the ones that ran before it. Written before the restart
   * begins and removed when it ends, so a kill half-way leaves it here: the next start starts
   * them again if the restart left them stopped.
   */
  restart: z.literal(true).optional(),
});

/** A redeploy (or a restart) that did not finish: its containers are checked and put right first. */
export type Interrupted = z.infer<typeof InterruptedSchema>;

export class InterruptedFile {
  /** With `docs`: the revision last read or written (undefined: not read yet). */
  private rev: number | undefined;

  constructor(
    private readonly file: string | undefined,
    private readonly log?: Logger,
    private readonly docs?: DocStore,
  ) {}

  async load(): Promise<Interrupted[]> {
    if (this.docs) return this.loadDoc(this.docs);
    if (!this.file) return [];
    const r = await readChecked(this.file, z.array(InterruptedSchema));
    if (r.ok) return r.value;
    if (r.why === 'unreadable') this.log?.warn({ err: r.err, file: this.file }, 'the record of interrupted operations is unreadable; their containers are left as they are');
    if (r.why === 'invalid') this.log?.warn({ file: this.file, problem: r.problem }, 'the record of interrupted operations is not what this version writes; their containers are left as they are');
    return [];
  }

  private async loadDoc(docs: DocStore): Promise<Interrupted[]> {
    const d = await docs.read('interrupted');
    this.rev = d.rev;
    if (d.value === undefined) return [];
    const r = z.array(InterruptedSchema).safeParse(d.value);
    if (r.success) return r.data;
    this.log?.warn({ where: d.where, problem: r.error.issues[0]?.message }, 'the record of interrupted operations is not what this version writes; their containers are left as they are');
    return [];
  }

  async save(list: readonly Interrupted[]): Promise<void> {
    if (!this.docs) {
      if (this.file) await writeJsonAtomic(this.file, list);
      return;
    }
    const rev = await this.docs.write('interrupted', list, this.rev);
    // Only a second leader writes meanwhile: its record stands, this one's is not written over it.
    if (rev === undefined) throw new Error('the record of interrupted operations in NATS KV was changed by another control plane since this one read it; not written over');
    this.rev = rev;
  }
}
