// The reference table: the short keys buttons carry (≤ 64 bytes of callback data), and what each
// one stands for: an action (`action:<id>@<instance>`) or one of the bot's messages (its outbox
// key). A button for an action works wherever it is shown (its own message, /pending) without
// that action needing a message of its own. Persisted in state/telegram/refs.json (with NATS_URL,
// the document `refs` of HOMELAB_STATE, so a new leader resolves the buttons of every message the
// old one sent), so buttons keep working across restarts; entries unused for 30 days are dropped
// at start.
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { readRefsFile, refsOfDoc, writeRefsFile, type RefEntry } from '../store/refs-file.js';
import type { DocStore } from '../store/doc-store.js';

const KEEP_MS = 30 * 86_400_000;

/** The reference of a key: the same on every start, 12 URL-safe characters. */
export function refFor(key: string): string {
  return createHash('sha256').update(`ref:${key}`).digest('base64url').slice(0, 12);
}

export class RefTable {
  private refs = new Map<string, RefEntry>();
  /** key → reference, so a render does not hash its key again. */
  private memo = new Map<string, string>();
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly now: () => number,
    private readonly log: Logger,
    /** With NATS_URL: the table is the document `refs` there, written by the leader only. */
    private readonly docs?: DocStore,
  ) {}

  async load(): Promise<void> {
    const refs = this.docs ? refsOfDoc((await this.docs.read('refs')).value) : await readRefsFile(this.file);
    if (refs === undefined) return;
    if (refs === null) {
      this.log.warn({ file: this.file }, 'the button reference table is unreadable; buttons of older messages answer "not valid any more"');
      return;
    }
    const cutoff = this.now() - KEEP_MS;
    for (const [ref, e] of Object.entries(refs)) if (Date.parse(e.at) >= cutoff) this.refs.set(ref, e);
  }

  /**
   * The reference of each key, entered in the table at once; the file follows in one write, which
   * the outbox waits for before it sends anything (`flushed`): no button reaches the chat before
   * its reference is on disk.
   */
  ensure(keys: readonly string[]): string[] {
    const at = new Date(this.now()).toISOString();
    const out = keys.map((key) => {
      let ref = this.memo.get(key);
      if (ref === undefined) {
        ref = refFor(key);
        this.memo.set(key, ref);
      }
      const e = this.refs.get(ref);
      if (!e || e.key !== key || e.at.slice(0, 10) !== at.slice(0, 10)) {
        this.refs.set(ref, { key, at });
        this.dirty = true;
      }
      return ref;
    });
    if (this.dirty) void this.flush().catch((err: unknown) => this.log.error({ err }, 'could not write the button reference table; retrying with the next change'));
    return out;
  }

  ref(key: string): string {
    return this.ensure([key])[0]!;
  }

  /** Resolves once every reference entered so far is on disk (rejects if that write failed). */
  flushed(): Promise<void> {
    return this.dirty ? this.flush() : this.saving;
  }

  /** What a reference stands for, or undefined for an unknown (forged, or forgotten) one. */
  resolve(ref: string): string | undefined {
    return this.refs.get(ref)?.key;
  }

  /**
   * Forgets the references of `keys` (what retention removed) and those unused for 30 days — at
   * start and, in a process that runs for months, at every retention pass. Returns how many.
   */
  forget(keys: ReadonlySet<string>): number {
    const cutoff = this.now() - KEEP_MS;
    let n = 0;
    for (const [ref, e] of this.refs) {
      if (!keys.has(e.key) && Date.parse(e.at) >= cutoff) continue;
      this.refs.delete(ref);
      this.memo.delete(e.key);
      n++;
    }
    if (n > 0) {
      this.dirty = true;
      void this.flush().catch((err: unknown) => this.log.error({ err }, 'could not write the button reference table; retrying with the next change'));
    }
    return n;
  }

  get size(): number {
    return this.refs.size;
  }

  private flush(): Promise<void> {
    // Writes queue behind each other; a write that starts sees every entry made so far.
    const next = this.saving.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      if (this.docs) await this.docs.write('refs', { version: 1, refs: Object.fromEntries(this.refs) });
      else await writeRefsFile(this.file, this.refs);
    });
    // A failed write (disk full) is the caller's error; the next call writes everything again.
    this.saving = next.catch(() => {
      this.dirty = true;
    });
    return next;
  }
}
