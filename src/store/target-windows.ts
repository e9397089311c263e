// Windows of time for a node or a service, kept in one state file: an operator's silences
// (state/silences.json) and ad hoc maintenance (state/maintenance.json). Each entry has an id,
// its target (`node` or `node/service`), when it ends, who made it and why; expired ones are
// dropped when the active ones are read.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { NAME_RE } from '../domain/schemas.js';
import type { Silence } from '../domain/silences.js';
import { readChecked, writeJsonAtomic } from './atomic.js';

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
    readonly file: string,
    /** The key of the list in the file (`silences`, `windows`). */
    private readonly key: string,
    /** What one is called in errors (`silence`, `maintenance`). */
    private readonly what: string,
  ) {
    this.schema = z.object({ version: z.literal(VERSION), [key]: z.array(WindowSchema) });
  }

  async all(): Promise<Silence[]> {
    const r = await readChecked(this.file, this.schema);
    if (r.ok) return (r.value as Record<string, Silence[]>)[this.key] ?? [];
    if (r.why === 'none') return [];
    throw new Error(`${this.file}: not a valid state file (${r.why === 'invalid' ? r.problem : (r.err as Error).message}); fix or delete it`);
  }

  async save(list: Silence[]): Promise<void> {
    await writeJsonAtomic(this.file, { version: VERSION, [this.key]: list });
  }

  /**
   * A window for `target` lasting `ms`. One for the same target that is still active is extended
   * (never shortened) rather than doubled: `merged` says so.
   */
  async add(target: string, ms: number, now: number, opts: { reason?: string; by?: string; snooze?: Silence['snooze'] } = {}): Promise<Silence & { merged?: boolean }> {
    const parts = target.split('/');
    if (parts.length > 2 || !parts.every((p) => NAME_RE.test(p))) throw new Error(`${this.what} target must be <node> or <node>/<service>, got ${JSON.stringify(target)}`);
    const until = new Date(now + ms).toISOString();
    const list = (await this.all()).filter((x) => Date.parse(x.until) > now);
    const same = list.find((x) => x.target === target);
    if (same) {
      const merged: Silence = { ...same, until: until > same.until ? until : same.until, ...(opts.reason ? { reason: opts.reason } : {}), ...(opts.by ? { by: opts.by } : {}), ...(opts.snooze ? { snooze: opts.snooze } : {}) };
      await this.save(list.map((x) => (x === same ? merged : x)));
      return { ...merged, merged: true };
    }
    const s: Silence = { id: randomBytes(3).toString('hex'), target, until, created_at: new Date(now).toISOString(), ...(opts.reason ? { reason: opts.reason } : {}), ...(opts.by ? { by: opts.by } : {}), ...(opts.snooze ? { snooze: opts.snooze } : {}) };
    list.push(s);
    await this.save(list);
    return s;
  }

  /** Removes windows by id or target. Returns how many were removed. */
  async remove(idOrTarget: string): Promise<number> {
    const list = await this.all();
    const keep = list.filter((s) => s.id !== idOrTarget && s.target !== idOrTarget);
    if (keep.length !== list.length) await this.save(keep);
    return list.length - keep.length;
  }

  /** The active windows, read only (a reader that is not the supervisor never rewrites the file). */
  async current(now: number): Promise<Silence[]> {
    return (await this.all()).filter((s) => Date.parse(s.until) > now);
  }

  /** Drops expired windows; returns the active ones. */
  async active(now: number): Promise<Silence[]> {
    const list = await this.all();
    const active = list.filter((s) => Date.parse(s.until) > now);
    if (active.length !== list.length) await this.save(active);
    return active;
  }
}
