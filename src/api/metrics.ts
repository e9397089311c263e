// /metrics in the Prometheus exposition format, written by prom-client (one registry per server,
// never the library's global one). Values are read from their sources at scrape time; action
// durations are observed as they happen, into a histogram.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunnerStatus } from '../loops/runner.js';

export interface MetricsInput {
  version: string;
  observer: { applied: number; malformed: number; duplicate: number; unknown: number; oversized: number };
  services: Record<string, { status: string }>;
  /** Services services.yaml asks to watch that world state has never heard of. */
  missing: number;
  nodes: Record<string, { agent: string; last_seen: string | null; engine?: string | null }>;
  telegram?: { sent: number; edited: number; retries: number; failures: number; rate_limited: number; queued: number; poll_restarts?: number };
  executor: { started: number; completed: number; failed: number; refused: number };
  notices_open: number;
  /** Restart budgets of the services with heals on record (the rest are whole: no series). */
  heal_budgets?: readonly { node: string; service: string; remaining: number }[];
  /** Bytes per kind of data under HOMELAB_ROOT, as the retention loop last measured them. */
  data_bytes?: Readonly<Record<string, number>>;
  /** Events over NATS JetStream, when NATS_URL is set: whether it is connected, messages by outcome. */
  nats?: { state: string; consumer: string; written: number; refused: number; writeFailures: number; role: string };
}

export interface ScrapeInput extends MetricsInput {
  actions: { state: string; type: string; n: number }[];
  runners: readonly RunnerStatus[];
}

/** Seconds buckets for one action: a restart takes seconds, a redeploy with a pull minutes. */
const ACTION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];

export class Metrics {
  readonly registry = new Registry();
  private readonly actionDuration: Histogram<'type'>;
  private readonly update: ((m: ScrapeInput) => void)[] = [];

  constructor() {
    const r = [this.registry];
    this.actionDuration = new Histogram({ name: 'homelab_action_duration_seconds', help: 'How long actions took, by type (completed or failed).', labelNames: ['type'], buckets: ACTION_BUCKETS, registers: r });

    const build = new Gauge({ name: 'homelab_build_info', help: 'The running version (always 1).', labelNames: ['version'], registers: r });
    this.update.push((m) => {
      build.reset();
      build.set({ version: m.version }, 1);
    });

    this.counter('homelab_events_applied_total', 'Events applied to world state.', (m) => m.observer.applied);
    this.counter('homelab_events_malformed_total', 'Event lines skipped as malformed (including over-long ones).', (m) => m.observer.malformed);
    this.counter('homelab_events_duplicate_total', 'Events skipped as duplicates (seq already applied).', (m) => m.observer.duplicate);
    this.counter('homelab_events_unknown_total', 'Events of unknown type.', (m) => m.observer.unknown);

    const services = new Gauge({ name: 'homelab_world_services', help: 'Services by status: healthy, unhealthy, unknown (engine unreachable), missing (never reported).', labelNames: ['status'], registers: r });
    this.update.push((m) => {
      const by: Record<string, number> = { healthy: 0, unhealthy: 0, unknown: 0, missing: m.missing };
      for (const s of Object.values(m.services)) by[s.status] = (by[s.status] ?? 0) + 1;
      services.reset();
      for (const [status, n] of Object.entries(by)) services.set({ status }, n);
    });

    const agentUp = new Gauge({ name: 'homelab_node_agent_up', help: "1 when the node's agent was heard of within AGENT_SILENT_AFTER_S.", labelNames: ['node'], registers: r });
    const lastSeen = new Gauge({ name: 'homelab_node_last_seen_timestamp_seconds', help: "Time of the node's newest event (Unix seconds).", labelNames: ['node'], registers: r });
    const engineUp = new Gauge({ name: 'homelab_node_engine_up', help: "1 when the node's agent reaches its Docker Engine, 0 when it does not (absent before it said).", labelNames: ['node'], registers: r });
    this.update.push((m) => {
      for (const g of [agentUp, lastSeen, engineUp]) g.reset();
      for (const [node, n] of Object.entries(m.nodes)) {
        agentUp.set({ node }, n.agent === 'alive' ? 1 : 0);
        if (n.last_seen) lastSeen.set({ node }, Date.parse(n.last_seen) / 1000);
        if (n.engine) engineUp.set({ node }, n.engine === 'reachable' ? 1 : 0);
      }
    });

    const budget = new Gauge({ name: 'homelab_heal_budget_remaining', help: 'Heals left in the restart budget of each service with heals on record (a service without a series has its whole budget).', labelNames: ['node', 'service'], registers: r });
    this.update.push((m) => {
      budget.reset();
      for (const b of m.heal_budgets ?? []) budget.set({ node: b.node, service: b.service }, b.remaining);
    });

    const actions = new Gauge({ name: 'homelab_actions', help: 'Action files by state and type.', labelNames: ['state', 'type'], registers: r });
    this.update.push((m) => {
      actions.reset();
      for (const c of m.actions) actions.set({ state: c.state, type: c.type }, c.n);
    });

    const executed = new Counter({ name: 'homelab_executor_actions_total', help: 'Actions the executor started, completed, failed or refused.', labelNames: ['outcome'], registers: r });
    this.update.push((m) => {
      executed.reset();
      for (const outcome of ['started', 'completed', 'failed', 'refused'] as const) executed.inc({ outcome }, m.executor[outcome]);
    });

    const passSeconds = new Gauge({ name: 'homelab_loop_pass_duration_seconds', help: 'Duration of the last pass of each loop.', labelNames: ['loop'], registers: r });
    const passes = new Counter({ name: 'homelab_loop_passes_total', help: 'Passes of each loop.', labelNames: ['loop'], registers: r });
    const failures = new Counter({ name: 'homelab_loop_failures_total', help: 'Failed passes of each loop.', labelNames: ['loop'], registers: r });
    this.update.push((m) => {
      for (const x of [passSeconds, passes, failures]) x.reset();
      for (const l of m.runners) {
        passSeconds.set({ loop: l.name }, (l.lastDurationMs ?? 0) / 1000);
        passes.inc({ loop: l.name }, l.passes);
        failures.inc({ loop: l.name }, l.failures);
      }
    });

    this.telegramMetrics(r);
    this.natsMetrics(r);

    const data = new Gauge({ name: 'homelab_data_bytes', help: 'Bytes under HOMELAB_ROOT by kind (events, snapshot, actions, evidence, archive), measured at each retention pass.', labelNames: ['kind'], registers: r });
    this.update.push((m) => {
      data.reset();
      for (const [kind, n] of Object.entries(m.data_bytes ?? {})) data.set({ kind }, n);
    });

    const notices = new Gauge({ name: 'homelab_notices_open', help: 'Open notices.', registers: r });
    this.update.push((m) => notices.set(m.notices_open));
  }

  /** Events over NATS: the connection and the stream's messages by outcome (no series without NATS_URL). */
  private natsMetrics(r: Registry[]): void {
    const natsUp = new Gauge({ name: 'homelab_nats_up', help: 'Whether the control plane is connected to NATS, by its consumer (CONTROL_PLANE_ID); no series without NATS_URL.', labelNames: ['consumer'], registers: r });
    const natsMessages = new Counter({ name: 'homelab_nats_event_messages_total', help: 'Messages of the NATS events stream by outcome: written (to the events files, then acknowledged), refused (no event of their node; terminated), write_failed (delivered again).', labelNames: ['outcome'], registers: r });
    const leader = new Gauge({ name: 'homelab_leader', help: 'With NATS: 1 while this control plane (by CONTROL_PLANE_ID) holds the leader lease and acts, 0 while it is a standby.', labelNames: ['id'], registers: r });
    this.update.push((m) => {
      natsUp.reset();
      natsMessages.reset();
      leader.reset();
      if (!m.nats) return;
      natsUp.set({ consumer: m.nats.consumer }, m.nats.state === 'up' ? 1 : 0);
      leader.set({ id: m.nats.consumer }, m.nats.role === 'leader' ? 1 : 0);
      for (const [outcome, v] of [['written', m.nats.written], ['refused', m.nats.refused], ['write_failed', m.nats.writeFailures]] as const) natsMessages.inc({ outcome }, v);
    });
  }

  /** The outbox's calls, its queue and the polling watchdog. */
  private telegramMetrics(r: Registry[]): void {
    const telegram = new Counter({ name: 'homelab_telegram_messages_total', help: 'Telegram calls by outcome.', labelNames: ['outcome'], registers: r });
    const queued = new Gauge({ name: 'homelab_telegram_outbox_queued', help: 'Messages waiting to be delivered.', registers: r });
    const pollRestarts = new Counter({ name: 'homelab_telegram_poll_restarts_total', help: 'Times the polling watchdog restarted a long poll that never returned.', registers: r });
    this.update.push((m) => {
      telegram.reset();
      queued.reset();
      pollRestarts.reset();
      if (!m.telegram) return;
      const t = m.telegram;
      pollRestarts.inc(t.poll_restarts ?? 0);
      for (const [outcome, v] of [['sent', t.sent], ['edited', t.edited], ['retried', t.retries], ['failed', t.failures], ['rate_limited', t.rate_limited]] as const) telegram.inc({ outcome }, v);
      queued.set(t.queued);
    });
  }

  /** A counter whose total lives elsewhere (the observer's counters): copied at scrape time. */
  private counter(name: string, help: string, read: (m: ScrapeInput) => number): void {
    const c = new Counter({ name, help, registers: [this.registry] });
    this.update.push((m) => {
      c.reset();
      c.inc(Math.max(0, read(m)));
    });
  }

  /** Records one finished action's duration. */
  observeAction(type: string, seconds: number): void {
    this.actionDuration.observe({ type }, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(m: ScrapeInput): Promise<string> {
    for (const u of this.update) u(m);
    return this.registry.metrics();
  }
}
