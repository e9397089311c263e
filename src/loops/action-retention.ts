// Action retention (docs/design/files.md "Retention"): finished actions (completed, failed,
// rejected, cancelled) that ended more than ACTIONS_RETENTION_DAYS ago are removed with their
// evidence, their chat messages' outbox records and button references — with ACTIONS_ARCHIVE=1
// first added to archive/actions-YYYY-MM.jsonl.gz. Cooldowns and heal budgets live in their own
// state files and never read a removed action again.
import type { Action } from '../domain/actions.js';
import type { Logger } from '../log.js';
import { addToArchive, type ArchiveEntry } from '../store/action-archive.js';
import type { ActionBackend } from '../store/action-backend.js';
import type { EvidenceStore } from '../store/evidence.js';

/** The chat's side: forgets the messages and references retention retires. */
export interface MessageRetention {
  /** Removes what `retiredRecord` retires (removed actions' messages, old final ones); returns how many. */
  prune(beforeIso: string, removedKeys: ReadonlySet<string>): Promise<number>;
}

export interface ActionRetentionDeps {
  actions: ActionBackend;
  evidence: EvidenceStore;
  archiveDir: string;
  days: number;
  archive: boolean;
  messages: MessageRetention | undefined;
  log: Logger;
  now: () => number;
}

export interface ActionRetentionReport {
  removed: number;
  archived: number;
  messages: number;
}

/** The key of an archive line: the action's id@instance. */
function archivedKey(line: string): string | undefined {
  try {
    const a = (JSON.parse(line) as { action?: { id?: unknown; instance?: unknown } }).action;
    return typeof a?.id === 'string' && typeof a.instance === 'string' ? `${a.id}@${a.instance}` : undefined;
  } catch {
    return undefined;
  }
}

export class ActionRetention {
  constructor(private readonly deps: ActionRetentionDeps) {}

  async pass(): Promise<ActionRetentionReport> {
    const { actions, evidence, log } = this.deps;
    const report: ActionRetentionReport = { removed: 0, archived: 0, messages: 0 };
    if (this.deps.days <= 0) return report;
    const before = this.deps.now() - this.deps.days * 86_400_000;
    const old = await actions.finishedBefore(before);
    if (this.deps.archive && old.length > 0) report.archived = await this.archive(old);
    const keys = new Set<string>();
    for (const a of old) {
      await evidence.remove(a.id, a.instance);
      await actions.removeFinished(a);
      keys.add(`action:${a.id}@${a.instance}`);
      report.removed++;
    }
    if (this.deps.messages) report.messages = await this.deps.messages.prune(new Date(before).toISOString(), keys);
    if (report.removed > 0 || report.messages > 0) {
      log.info({ ...report, days: this.deps.days }, `action retention: ${report.removed} finished action(s) older than ${this.deps.days} days removed${this.deps.archive ? ` (${report.archived} added to the archive)` : ''}, ${report.messages} chat message record(s)`);
    }
    return report;
  }

  /** Adds the actions (with their evidence) to their months' archives, before anything is removed. */
  private async archive(old: readonly Action[]): Promise<number> {
    const entries: ArchiveEntry[] = [];
    for (const a of old) {
      const e = await this.deps.evidence.read(a.id, a.instance);
      entries.push({ key: `${a.id}@${a.instance}`, month: (a.finished_at ?? a.updated_at).slice(0, 7), line: JSON.stringify({ action: a, evidence: e ?? null }) });
    }
    return addToArchive(this.deps.archiveDir, entries, archivedKey);
  }
}
