// Gathers what summarize() needs from the running parts. Shared by the bot and the web API.
import { summarize, type DataShown, type Summary } from './domain/summary.js';
import type { DesiredState, World } from './domain/schemas.js';
import type { SummaryTally } from './domain/summary-tally.js';
import type { WorldChanges } from './domain/world-render.js';
import type { ActionBackend } from './store/action-backend.js';
import type { DesiredProblem } from './store/desired.js';
import type { SupervisorState } from './store/supervisor-state.js';

export const VERSION = '0.1.0';

export interface StatusSources {
  world: () => World;
  desired: () => DesiredState;
  desiredProblems: () => readonly DesiredProblem[];
  actions: ActionBackend;
  supervisorState: SupervisorState;
  observerCounters: () => { applied: number; malformed: number; duplicate: number; unknown: number };
  now: () => number;
  /** What the data takes (the retention loop's last measure); set once retention is built. */
  data?: () => DataShown | undefined;
  /** Each node's part of the services, kept between summaries (summary-tally.ts), and who says which changed. */
  tally?: SummaryTally;
  changes?: WorldChanges;
}

export async function currentSummary(src: StatusSources): Promise<Summary> {
  const [open, counts, notices, heals] = await Promise.all([src.actions.listOpen(), src.actions.counts(), src.supervisorState.notices(), src.supervisorState.healBudgets()]);
  return summarize({
    world: src.world(),
    desired: src.desired(),
    open,
    counts,
    notices: notices
      .filter((n) => n.state === 'open')
      .map((n) => ({ key: n.key, kind: n.kind, node: n.node, ...(n.service ? { service: n.service } : {}), message: n.message, opened_at: n.opened_at })),
    configErrors: src.desiredProblems(),
    observer: src.observerCounters(),
    version: VERSION,
    now: src.now(),
    heals,
    ...(src.data?.() ? { data: src.data()! } : {}),
    ...(src.tally ? { tally: src.tally } : {}),
    ...(src.changes ? { changes: src.changes } : {}),
  });
}

