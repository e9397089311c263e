// Evidence beside each action: actions/evidence/<id>@<instance>.json, written atomically and
// outside the claim protocol (it never races an approval or an `mv`: the action file is never
// touched); with NATS_URL, a key per instance in HOMELAB_STATE (nats/evidence-kv.ts), so a standby
// and a new leader show the evidence the leader collected. Written once the inspector answers;
// read by the bot, the page, the CLI and /ai-context (docs/design/claims.md).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonAtomic } from './atomic.js';

const ContainerSchema = z.object({
  name: z.string(),
  state: z.string(),
  exit_code: z.number().int().nullable(),
  oom_killed: z.boolean(),
  restart_count: z.number().int(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  health: z.object({ status: z.string(), failing_streak: z.number().int(), last_output: z.string().nullable() }).nullable(),
  image: z.string().nullable(),
  image_id: z.string().nullable(),
  logs: z.array(z.string()),
  logs_truncated: z.boolean(),
});

export const EvidenceSchema = z.object({
  version: z.literal(1),
  id: z.string(),
  instance: z.string(),
  node: z.string(),
  service: z.string().nullable(),
  collected_at: z.string(),
  containers: z.array(ContainerSchema),
  /** disk_cleanup: what the agent reported of the disk, and what a prune would reclaim (docker system df). */
  disk: z
    .object({
      used_pct: z.number().nullable(),
      pressure: z.string().nullable(),
      reported_at: z.string().nullable(),
      reclaimable: z.object({ containers_bytes: z.number(), images_bytes: z.number(), build_cache_bytes: z.number() }).nullable(),
    })
    .optional(),
  /** The engine could not be asked: that is evidence too ("node's engine unreachable"). */
  error: z.string().optional(),
});
export type Evidence = z.infer<typeof EvidenceSchema>;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** Evidence kept elsewhere than the files (NATS KV): raw values by action instance. */
export interface SharedEvidence {
  /** The stored value, undefined when there is none; throws when it cannot be asked. */
  read(id: string, instance: string): Promise<unknown>;
  write(e: Evidence): Promise<void>;
  remove(id: string, instance: string): Promise<void>;
}

export class EvidenceStore {
  /**
   * What was written or read, by `<id>@<instance>` (null: looked for, none). Evidence never changes
   * once written; a miss is remembered only for the files, which this process alone writes (shared
   * in KV, another control plane may write it any time).
   */
  private cache = new Map<string, Evidence | null>();

  constructor(
    readonly dir: string,
    private readonly shared?: SharedEvidence,
  ) {}

  /** Like read, from memory after the first look (the inspector of this process writes through it). */
  async get(id: string, instance: string): Promise<Evidence | undefined> {
    const key = `${id}@${instance}`;
    const held = this.cache.get(key);
    if (held !== undefined) return held ?? undefined;
    const e = await this.read(id, instance);
    if (e || !this.shared) {
      this.cache.set(key, e ?? null);
      if (this.cache.size > 5000) this.cache.delete(this.cache.keys().next().value!);
    }
    return e;
  }

  /** What the evidence of one action instance says, in facts (evidenceFacts), or undefined when there is none. */
  async facts(id: string, instance: string): Promise<string[] | undefined> {
    const e = await this.get(id, instance);
    return e ? evidenceFacts(e) : undefined;
  }

  private file(id: string, instance: string): string | undefined {
    const name = `${id}@${instance}`;
    return NAME_RE.test(id) && NAME_RE.test(instance) ? path.join(this.dir, `${name}.json`) : undefined;
  }

  async write(e: Evidence): Promise<void> {
    const file = this.file(e.id, e.instance);
    if (!file) throw new Error(`evidence for an action with an unusable id: ${e.id}@${e.instance}`);
    const valid = EvidenceSchema.parse(e);
    if (this.shared) await this.shared.write(valid);
    else {
      await fs.mkdir(this.dir, { recursive: true });
      await writeJsonAtomic(file, valid);
    }
    this.cache.set(`${e.id}@${e.instance}`, valid);
  }

  /** The evidence of one action instance, or undefined (none yet, unreadable, or NATS away). */
  async read(id: string, instance: string): Promise<Evidence | undefined> {
    const file = this.file(id, instance);
    if (!file) return undefined;
    const raw = await (this.shared ? this.shared.read(id, instance) : readJsonFile(file)).catch(() => undefined);
    const parsed = EvidenceSchema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  }

  async remove(id: string, instance: string): Promise<void> {
    const file = this.file(id, instance);
    if (file) await (this.shared ? this.shared.remove(id, instance) : fs.rm(file, { force: true }));
    this.cache.delete(`${id}@${instance}`);
  }
}

/** What the evidence says, as plain facts per container (the chat, the CLI and /ai-context word them). */
export function evidenceFacts(e: Evidence): string[] {
  const disk = e.disk ? [diskFact(e.disk)] : [];
  if (e.error) return [...disk, e.error];
  if (e.disk) return disk;
  return e.containers.map((c) => {
    const bits: string[] = [];
    if (c.state === 'missing') bits.push('container missing');
    else if (c.state === 'running') bits.push('running');
    else bits.push(c.exit_code !== null ? `exit ${c.exit_code}` : c.state);
    if (c.oom_killed) bits.push('OOM-killed');
    if (c.state === 'restarting') bits.push(`Docker's restart policy has restarted it ${c.restart_count} time${c.restart_count === 1 ? '' : 's'} and keeps trying, each wait twice the last with no cap (moby #41856)`);
    else if (c.restart_count > 0) bits.push(`${c.restart_count} restart${c.restart_count > 1 ? 's' : ''}`);
    if (c.health && c.health.status !== 'healthy') bits.push(`${c.health.status}${c.health.failing_streak > 0 ? ` ${c.health.failing_streak}×` : ''}${c.health.last_output ? ` ("${c.health.last_output.split('\n')[0]!.slice(0, 80)}")` : ''}`);
    return (e.containers.length > 1 ? `${c.name}: ` : '') + bits.join(' · ');
  });
}

function mib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;
}

function diskFact(d: NonNullable<Evidence['disk']>): string {
  const used = d.used_pct === null ? 'disk use not reported' : `disk ${d.used_pct}% used`;
  const r = d.reclaimable;
  if (!r) return used;
  const total = r.containers_bytes + r.images_bytes + r.build_cache_bytes;
  return `${used} · a prune would reclaim about ${mib(total)} (images ${mib(r.images_bytes)}, stopped containers ${mib(r.containers_bytes)}, build cache ${mib(r.build_cache_bytes)})`;
}
