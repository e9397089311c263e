// What the observer says about events it skips and agents it hears twice: duplicates (same node,
// agent and seq: delivered twice) and lines stamped ahead of the clock are never silent, one line
// a minute each with the counts; two agents
// sending heartbeats for one node are said once per set of instances, and once when it ends.
import type { World } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import type { ReadReports } from './event-reader.js';

/** Malformed lines logged one by one per event file (for the life of the process); the rest are summed up per pass. */
const MALFORMED_LOGGED_PER_FILE = 10;

/** Duplicate events are summed up in one log line at most this often. */
const DUPLICATES_LOG_MS = 60_000;

export class ObserverReports {
  /** Duplicates skipped per node since the last line that said so. */
  private readonly duplicatesUnlogged = new Map<string, number>();
  private duplicatesLoggedAt = Number.NEGATIVE_INFINITY;
  /** Lines stamped ahead of the clock per node since the last line that said so. */
  private readonly futureUnlogged = new Map<string, { count: number; maxAheadMs: number }>();
  private futureLoggedAt = Number.NEGATIVE_INFINITY;
  /** Per node, the agent instances last said to run at once (logged when it changes). */
  private readonly agentsRunningLogged = new Map<string, string>();

  private readonly malformedLogged = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** What reading says, logged (event-reader.ts): malformed lines (the first of each file one by one), resets, duplicates. */
  readonly read: ReadReports = {
    malformed: (file, line, reason) => {
      const logged = this.malformedLogged.get(file) ?? 0;
      if (logged >= MALFORMED_LOGGED_PER_FILE) return false;
      this.malformedLogged.set(file, logged + 1);
      this.log.warn({ file, line, reason }, 'skipped malformed event line');
      return true;
    },
    unlogged: (file, count, unlogged) => {
      this.log.warn({ file, count, unlogged }, `skipped ${count} malformed event lines (the first ${MALFORMED_LOGGED_PER_FILE} of each file are logged one by one)`);
    },
    reset: (file, why) => this.log.warn({ file, why }, `event file was ${why}; reading it again from the start`),
    future: (node, aheadMs, n) => this.future(node, aheadMs, n),
    duplicate: (node, n) => this.duplicate(node, n),
  };

  /** Malformed lines of `file` logged one by one so far. */
  saidSoFar(file: string): number {
    return this.malformedLogged.get(file) ?? 0;
  }

  duplicate(node: string, n = 1): void {
    this.duplicatesUnlogged.set(node, (this.duplicatesUnlogged.get(node) ?? 0) + n);
  }

  /** At most once a minute: how many duplicates were skipped, per node; `total` since the start. */
  logDuplicates(total: number): void {
    if (this.duplicatesUnlogged.size === 0 || this.now() - this.duplicatesLoggedAt < DUPLICATES_LOG_MS) return;
    const by_node = Object.fromEntries(this.duplicatesUnlogged);
    const count = [...this.duplicatesUnlogged.values()].reduce((a, b) => a + b, 0);
    const first = this.duplicatesLoggedAt === Number.NEGATIVE_INFINITY;
    this.log.warn({ count, by_node, total }, `skipped ${count} duplicate event(s) (same node, agent and seq: delivered twice)${first ? '' : ' in the last minute'}`);
    this.duplicatesUnlogged.clear();
    this.duplicatesLoggedAt = this.now();
  }

  future(node: string, aheadMs: number, n = 1): void {
    const f = this.futureUnlogged.get(node);
    this.futureUnlogged.set(node, { count: (f?.count ?? 0) + n, maxAheadMs: Math.max(f?.maxAheadMs ?? 0, aheadMs) });
  }

  /**
   * At most once a minute: the event lines skipped for being stamped ahead of this machine's clock
   * (EVENT_MAX_FUTURE_S), per node — one line, however many nodes and lines a step of the clock
   * back makes look early.
   */
  logFuture(): void {
    if (this.futureUnlogged.size === 0 || this.now() - this.futureLoggedAt < DUPLICATES_LOG_MS) return;
    const by_node = Object.fromEntries([...this.futureUnlogged].map(([n, f]) => [n, f.count]));
    const count = Object.values(by_node).reduce((a, b) => a + b, 0);
    const aheadS = Math.round(Math.max(...[...this.futureUnlogged.values()].map((f) => f.maxAheadMs)) / 1000);
    const nodes = Object.keys(by_node);
    const why = nodes.length > 1 ? "this machine's clock is behind (a step back, a VM resumed) or the agents' clocks are ahead" : `${nodes[0]}'s clock is ahead or this machine's is behind`;
    this.log.warn({ count, by_node, max_ahead_s: aheadS }, `skipped ${count} event line(s) stamped up to ${aheadS} s ahead of this machine's clock (${nodes.join(', ')}): ${why}; compare \`date -u\` on both`);
    this.futureUnlogged.clear();
    this.futureLoggedAt = this.now();
  }

  logAgentsRunning(world: World): void {
    for (const [name, n] of Object.entries(world.nodes)) {
      const now = n.agents_running?.join(', ') ?? '';
      const before = this.agentsRunningLogged.get(name) ?? '';
      if (now === before) continue;
      if (now) this.log.warn({ node: name, agents: n.agents_running }, `two agents send heartbeats for ${name} at once (instances ${now}); both streams are kept. Stop one of them`);
      else this.log.info({ node: name }, `one agent for ${name} again`);
      if (now) this.agentsRunningLogged.set(name, now);
      else this.agentsRunningLogged.delete(name);
    }
  }
}
