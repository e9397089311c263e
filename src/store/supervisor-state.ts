// The supervisor's own files under state/: cooldowns, silences, the accepted desired state,
// removal confirmations and notices. Each carries a version and is written atomically.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Notice } from '../domain/plan-notices.js';
import type { Silence } from '../domain/silences.js';
import type { Cooldowns } from '../domain/cooldowns.js';
import type { HealBudgets } from '../domain/heal-budget.js';
import { HealSeen } from '../domain/actions.js';
import { TargetWindows } from './target-windows.js';
import { docValue, FileDocs, updateDoc, type Doc, type DocName, type DocStore } from './doc-store.js';
import { DocNotices, FileNotices, type NoticeStore, type StoredNotice } from './notice-store.js';
import type { Accepted } from '../domain/removals.js';
import { NAME_RE } from '../domain/schemas.js';
import { ActionType } from '../domain/actions.js';
import { readJsonFile, removeStaleTemps, writeJsonAtomic } from './atomic.js';

const VERSION = 1;

const CooldownsFile = z.object({
  version: z.literal(VERSION),
  ids: z.record(
    z.string(),
    z.object({
      node: z.string(),
      service: z.string().nullable(),
      type: ActionType,
      count: z.number().int().nonnegative(),
      last_at: z.string(),
      last_outcome: z.string().optional(),
    }),
  ),
});

const HealBudgetsFile = z.object({
  version: z.literal(VERSION),
  services: z.record(
    z.string(),
    z.object({
      heals: z.array(HealSeen),
    }),
  ),
});

const ConfirmationsDoc = z.object({ version: z.literal(VERSION), nodes: z.record(z.string(), z.object({ by: z.string(), at: z.string() })) });
type Confirmations = z.infer<typeof ConfirmationsDoc>['nodes'];

const AcceptedFile = z.object({ version: z.literal(VERSION), nodes: z.record(z.string(), z.array(z.string())) });
/** When each watched `node/service` appeared in the desired state ('' : before this file existed). */
const DesiredSinceFile = z.object({ version: z.literal(VERSION), since: z.record(z.string(), z.string()) });

export type { StoredNotice } from './notice-store.js';

/** Closed notices are kept this long, then removed. */
const CLOSED_NOTICE_KEEP_MS = 7 * 86_400_000;

export class SupervisorState {
  readonly files: { cooldowns: string; healBudgets: string; silences: string; maintenance: string; accepted: string; desiredSince: string; confirmations: string; notices: string };

  /** Silences, maintenance, cooldowns and heal budgets: state/'s files, or NATS KV (doc-store.ts). */
  private readonly docs: DocStore;
  /** The revision each document was last read at: the supervisor's write compares against it. */
  private readonly revs = new Map<DocName, number>();
  /** In NATS KV (shared by every control plane and the CLI), not state/'s files. */
  private readonly shared: boolean;
  /** Notices: state/notices/, or a document beside the others in NATS KV (notice-store.ts). */
  private readonly noticeStore: NoticeStore;

  constructor(stateDir: string, docs?: DocStore) {
    this.files = {
      cooldowns: path.join(stateDir, 'cooldowns.json'),
      healBudgets: path.join(stateDir, 'heal-budgets.json'),
      silences: path.join(stateDir, 'silences.json'),
      maintenance: path.join(stateDir, 'maintenance.json'),
      accepted: path.join(stateDir, 'desired_accepted.json'),
      desiredSince: path.join(stateDir, 'desired_since.json'),
      confirmations: path.join(stateDir, 'confirmations'),
      notices: path.join(stateDir, 'notices'),
    };
    this.docs = docs ?? new FileDocs({ silences: this.files.silences, maintenance: this.files.maintenance, cooldowns: this.files.cooldowns, 'heal-budgets': this.files.healBudgets });
    this.shared = docs !== undefined;
    this.noticeStore = docs ? new DocNotices(docs) : new FileNotices(this.files.notices);
    this.silenceWindows = new TargetWindows(this.docs, 'silences', 'silences', 'silence');
    this.maintenanceWindows = new TargetWindows(this.docs, 'maintenance', 'windows', 'maintenance');
  }

  async ensureDirs(): Promise<void> {
    await fs.mkdir(this.files.confirmations, { recursive: true });
    await fs.mkdir(this.files.notices, { recursive: true });
    await removeStaleTemps(this.files.notices);
    await removeStaleTemps(this.files.confirmations);
  }

  private async readVersioned<T>(file: string, schema: z.ZodType<T>): Promise<T | undefined> {
    let raw: unknown;
    try {
      raw = await readJsonFile(file);
    } catch {
      return undefined;
    }
    if (raw === undefined) return undefined;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new Error(`${file}: not a valid state file (${parsed.error.issues[0]?.message}); fix or delete it`);
    return parsed.data;
  }

  /** A document read through its schema, its revision remembered for the write after. */
  private async readDoc<T>(name: DocName, schema: z.ZodType<T>): Promise<T | undefined> {
    const d = await this.docs.read(name);
    this.revs.set(name, d.rev);
    return docValue(d, schema);
  }

  /**
   * Written over the revision last read (none read: written as it is): another writer meanwhile
   * (only a second leader could) is an error, not a loss.
   */
  private async writeDoc(name: DocName, value: unknown): Promise<void> {
    if ((await this.docs.write(name, value, this.revs.get(name))) === undefined) throw new Error(`${name}: changed by another writer since it was read; the next pass reads it again`);
    this.revs.delete(name);
  }

  async cooldowns(): Promise<Cooldowns> {
    return (await this.readDoc('cooldowns', CooldownsFile))?.ids ?? {};
  }
  async saveCooldowns(ids: Cooldowns): Promise<void> {
    await this.writeDoc('cooldowns', { version: VERSION, ids });
  }

  /** Heals carried out per service since their last reset (domain/heal-budget.ts). */
  async healBudgets(): Promise<HealBudgets> {
    return (await this.readDoc('heal-budgets', HealBudgetsFile))?.services ?? {};
  }
  async saveHealBudgets(services: HealBudgets): Promise<void> {
    await this.writeDoc('heal-budgets', { version: VERSION, services });
  }

  /** An operator's silences (state/silences.json). */
  readonly silenceWindows: TargetWindows;
  /** Ad hoc maintenance (state/maintenance.json); windows in services.yaml are the desired state's. */
  readonly maintenanceWindows: TargetWindows;

  /** Silences `target` for `ms` (an active one of the same target is extended, never shortened). */
  addSilence(target: string, ms: number, now: number, opts: { reason?: string; by?: string } = {}): Promise<Silence & { merged?: boolean }> {
    return this.silenceWindows.add(target, ms, now, opts);
  }

  /** Removes silences by id or target. Returns how many were removed. */
  removeSilence(idOrTarget: string): Promise<number> {
    return this.silenceWindows.remove(idOrTarget);
  }

  /** Drops expired silences; returns the active ones. */
  activeSilences(now: number): Promise<Silence[]> {
    return this.silenceWindows.active(now);
  }

  /** When each watched service appeared in the desired state; undefined before the first save. */
  async desiredSince(): Promise<Record<string, string> | undefined> {
    return (await this.readVersioned(this.files.desiredSince, DesiredSinceFile))?.since;
  }
  async saveDesiredSince(since: Record<string, string>): Promise<void> {
    await writeJsonAtomic(this.files.desiredSince, { version: VERSION, since });
  }

  async accepted(): Promise<Accepted | undefined> {
    return (await this.readVersioned(this.files.accepted, AcceptedFile))?.nodes;
  }
  async saveAccepted(nodes: Accepted): Promise<void> {
    await writeJsonAtomic(this.files.accepted, { version: VERSION, nodes });
  }

  /** Records an operator's confirmation of a held bulk removal on `node`. */
  async confirmRemoval(node: string, by: string, now: number): Promise<void> {
    if (!NAME_RE.test(node)) throw new Error(`not a node name: ${JSON.stringify(node)}`);
    const at = new Date(now).toISOString();
    if (this.shared) return this.changeConfirmations((nodes) => ({ ...nodes, [node]: { by, at } }));
    await writeJsonAtomic(path.join(this.files.confirmations, `${node}.json`), { version: VERSION, node, by, at });
  }
  async pendingConfirmations(): Promise<string[]> {
    if (this.shared) return Object.keys(this.parseConfirmations(await this.docs.read('confirmations')));
    const names = await fs.readdir(this.files.confirmations).catch(() => [] as string[]);
    return names.filter((n) => !n.startsWith('.') && n.endsWith('.json')).map((n) => n.slice(0, -5));
  }
  async clearConfirmation(node: string): Promise<void> {
    if (this.shared) return this.changeConfirmations((nodes) => (node in nodes ? Object.fromEntries(Object.entries(nodes).filter(([n]) => n !== node)) : undefined));
    await fs.rm(path.join(this.files.confirmations, `${node}.json`), { force: true });
  }

  /** Confirmations in NATS KV: one document, so the CLI on any host confirms to the leader. */
  private parseConfirmations(d: Doc): Confirmations {
    return docValue(d, ConfirmationsDoc)?.nodes ?? {};
  }
  private changeConfirmations(change: (nodes: Confirmations) => Confirmations | undefined): Promise<void> {
    return updateDoc(this.docs, 'confirmations', (d) => {
      const nodes = change(this.parseConfirmations(d));
      return { value: nodes && { version: VERSION, nodes }, result: undefined };
    });
  }

  notices(): Promise<StoredNotice[]> {
    return this.noticeStore.list();
  }

  /**
   * A notice that is news once and over at once (a maintenance that ended): written closed, so
   * the bot sends it once and nothing keeps it open. A later one of the same key replaces it.
   */
  recordNotice(n: Notice, now: number): Promise<void> {
    const at = new Date(now).toISOString();
    return this.noticeStore.change((existing) => {
      const old = existing.get(n.key);
      const stored: StoredNotice = { version: VERSION, key: n.key, kind: n.kind, node: n.node, ...(n.service ? { service: n.service } : {}), message: n.message, revision: n.revision, seq: (old?.seq ?? 0) + 1, state: 'closed', opened_at: at, updated_at: at, closed_at: at, ...(n.detail ? { detail: n.detail } : {}) };
      return { put: [stored], result: undefined };
    });
  }

  /**
   * Level-based notices: opens the ones that hold now, updates those whose text changed, closes
   * those that no longer hold. Returns what changed.
   */
  reconcileNotices(active: readonly Notice[], now: number): Promise<{ opened: string[]; updated: string[]; closed: string[] }> {
    const at = new Date(now).toISOString();
    return this.noticeStore.change((existing) => {
      const result = { opened: [] as string[], updated: [] as string[], closed: [] as string[] };
      const put: StoredNotice[] = [];
      const remove: string[] = [];
      const seen = new Set<string>();
      for (const n of active) {
        if (seen.has(n.key)) continue;
        seen.add(n.key);
        const old = existing.get(n.key);
        if (!old || old.state === 'closed') {
          put.push({
            version: VERSION,
            key: n.key,
            kind: n.kind,
            node: n.node,
            ...(n.service ? { service: n.service } : {}),
            message: n.message,
            revision: n.revision,
            seq: (old?.seq ?? 0) + 1,
            state: 'open',
            opened_at: at,
            updated_at: at,
            ...(n.detail ? { detail: n.detail } : {}),
          });
          result.opened.push(n.key);
        } else if (old.revision !== n.revision) {
          put.push({ ...old, message: n.message, revision: n.revision, seq: old.seq + 1, updated_at: at, ...(n.detail ? { detail: n.detail } : {}) });
          result.updated.push(n.key);
        }
      }
      for (const old of existing.values()) {
        if (old.state === 'open' && !seen.has(old.key)) {
          put.push({ ...old, state: 'closed', closed_at: at, updated_at: at });
          result.closed.push(old.key);
        } else if (old.state === 'closed' && old.closed_at && now - Date.parse(old.closed_at) > CLOSED_NOTICE_KEEP_MS) {
          remove.push(old.key);
        }
      }
      return { put, remove, result };
    });
  }
}
