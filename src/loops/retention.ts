// The retention loop (docs/design/files.md "Retention"): every RETENTION_INTERVAL it folds and
// removes old event days (event-retention.ts), removes old finished actions (action-retention.ts),
// and measures what each kind of data takes (store/data-sizes.ts) for /metrics, /status and the digest.
import type { Logger } from '../log.js';
import { measureData, type DataBytes } from '../store/data-sizes.js';
import type { Layout } from '../store/paths.js';
import type { ActionRetention, ActionRetentionReport } from './action-retention.js';
import type { EventRetention, EventRetentionReport } from './event-retention.js';

/** How often retention runs (and the data is measured). */
export const RETENTION_INTERVAL_MS = 10 * 60_000;

export interface DataStatus {
  bytes: DataBytes;
  measured_at: string;
  retention: { events_days: number; actions_days: number; archive: boolean };
  /** What the last pass removed. */
  last: { at: string; events: EventRetentionReport; actions: ActionRetentionReport } | null;
}

export class Retention {
  private state: DataStatus | undefined;

  constructor(
    private readonly deps: {
      layout: Layout;
      events: EventRetention;
      actions: ActionRetention;
      settings: DataStatus['retention'];
      log: Logger;
      now: () => number;
    },
  ) {}

  /** Bytes per kind as last measured, and what the last pass removed (undefined before the first). */
  get status(): DataStatus | undefined {
    return this.state;
  }

  /** A stop: the event fold under way gives up between two files. */
  stop(): void {
    this.deps.events.stop();
  }

  async pass(): Promise<void> {
    const events = await this.deps.events.pass();
    const actions = await this.deps.actions.pass();
    const at = new Date(this.deps.now()).toISOString();
    const bytes = await measureData(this.deps.layout);
    this.state = { bytes, measured_at: at, retention: this.deps.settings, last: { at, events, actions } };
    this.deps.log.debug({ bytes }, 'data measured');
  }
}
