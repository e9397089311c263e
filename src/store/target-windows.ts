// Windows of time for a node or a service, kept in one state document: an operator's silences
// (state/silences.json) and ad hoc maintenance (state/maintenance.json), or their keys in NATS KV
// (doc-store.ts). Each entry has an id, its target (`node` or `node/service`), when it ends, who
// made it and why; expired ones are dropped when the active ones are read. Every change reads the
// list, changes it and writes it back, again from the read when another writer came first.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { NAME_RE } from '../domain/schemas.js';
import type { Silence } from '../domain/silences.js';
import { docValue, updateDoc, type Doc, type DocName, type DocStore } from './doc-store.js';

const VERSION = 1;

export const WindowSchema = z.object({
  id: z.string(),
  target: z.string(),
  until: z.string(),
  reason: z.string().optional(),
  created_at: z.string(),
  by: z.string().optional(),
  /** Made from a message's 💤 button: which one, and whether it ends when the service recovers. */
  snooze: z.object({ message: z.string(), recover: z.boolean() }).optional(),
});

export class TargetWindows {
  private readonly schema;

  constructor(
    private readonly docs: DocStore,
    private readonly doc: DocName,
    /** The key of the list in the document (`silences`, `windows`). */
    private readonly key: string,
    /** What one is called in errors (`silence`, `maintenance`). */
    private readonly what: string,
  ) {
    this.schema = z.object({ version: z.literal(VERSION), [key]: z.array(WindowSchema) });
  }

  private parse(d: Doc): Silence[] {
    return (docValue(d, this.schema) as Record<string, Silence[]> | undefined)?.[this.key] ?? [];
  }

  async all(): Promise<Silence[]> {
    return this.parse(await this.docs.read(this.doc));
  }

  /** The list changed by `change` (a list to write, or none) and written back; what `change` says is returned. */
  private update<R>(change: (list: Silence[]) => { list?: Silence[]; result: R }): Promise<R> {
    return updateDoc(this.docs, this.doc, (d) => {
      const { list, result } = change(this.parse(d));
      return { value: list && { version: VERSION, [this.key]: list }, result };
    });
  }

  /**
   * A window for `target` lasting `ms`. One for the same target that is still active is extended
   * (never shortened) rather than doubled: `merged` says so.
   */
  async add(target: string, ms: number, now: number, opts: { reason?: string; by?: string; snooze?: Silence['snooze'] } = {}): Promise<Silence & { merged?: boolean }> {
    const parts = target.split('/');
    if (parts.length > 2 || !parts.every((p) => NAME_RE.test(p))) throw new Error(`${this.what} target must be <node> or <node>/<service>, got ${JSON.stringify(target)}`);
    const until = new Date(now + ms).toISOString();
    const made: Silence = { id: randomBytes(3).toString('hex'), target, until, created_at: new Date(now).toISOString(), ...(opts.reason ? { reason: opts.reason } : {}), ...(opts.by ? { by: opts.by } : {}), ...(opts.snooze ? { snooze: opts.snooze } : {}) };
    return this.update((all) => {
      const list = all.filter((x) => Date.parse(x.until) > now);
      const same = list.find((x) => x.target === target);
      if (!same) return { list: [...list, made], result: made };
      const merged: Silence = { ...same, until: until > same.until ? until : same.until, ...(opts.reason ? { reason: opts.reason } : {}), ...(opts.by ? { by: opts.by } : {}), ...(opts.snooze ? { snooze: opts.snooze } : {}) };
      return { list: list.map((x) => (x === same ? merged : x)), result: { ...merged, merged: true } };
    });
  }

  /** A window as it is (`control-plane nats import`), unless one of its id is there already. */
  bring(w: Silence): Promise<boolean> {
    return this.update((list) => (list.some((x) => x.id === w.id) ? { result: false } : { list: [...list, w], result: true }));
  }

  /** Removes windows by id or target. Returns how many were removed. */
  remove(idOrTarget: string): Promise<number> {
    return this.update((list) => {
      const keep = list.filter((s) => s.id !== idOrTarget && s.target !== idOrTarget);
      return { ...(keep.length !== list.length ? { list: keep } : {}), result: list.length - keep.length };
    });
  }

  /** The active windows, read only (a reader that is not the supervisor never rewrites the file). */
  async current(now: number): Promise<Silence[]> {
    return (await this.all()).filter((s) => Date.parse(s.until) > now);
  }

  /** Drops expired windows; returns the active ones. */
  active(now: number): Promise<Silence[]> {
    return this.update((list) => {
      const active = list.filter((s) => Date.parse(s.until) > now);
      return { ...(active.length !== list.length ? { list: active } : {}), result: active };
    });
  }
}
