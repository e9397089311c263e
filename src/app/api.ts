// The web page and JSON API wired to the parts they show.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { nodesWithAgentsRunning } from '../domain/agents-running.js';
import type { Clock } from '../time/clock.js';
import type { Runner } from '../loops/runner.js';
import type { TelegramBot } from '../bot/bot.js';
import { currentSummary } from '../status.js';
import { buildServer } from '../api/server.js';
import { VERSION } from '../status.js';
import { storageStatus, type Layout } from '../store/paths.js';
import type { Bus } from './bus.js';
import type { Parts } from './parts.js';
import type { LoopName } from './loops.js';
import { missingServices } from '../domain/summary.js';
import { budgetList } from '../domain/heal-budget.js';
import type { Heartbeat } from '../loops/heartbeat.js';
import type { Retention } from '../loops/retention.js';
import { natsHealth, type Nats } from './nats.js';

/** The web page and API. */
export function buildApi(config: Config, l: Layout, p: Parts, loops: Record<LoopName, Runner>, telegram: TelegramBot | undefined, bus: Bus, log: Logger, clock: Clock, heartbeat?: Heartbeat, retention?: { retention: Retention; runner: Runner }, nats?: Nats): ReturnType<typeof buildServer> {
  // What the read-only routes show changes only on these signals: their bodies are built once per change.
  let generation = 0;
  for (const signal of ['worldPublished', 'actionsChanged', 'updatesChanged', 'desiredChanged', 'retentionPassed'] as const) bus.on(signal, () => void generation++);
  return buildServer({
    generation: () => generation,
    clock,
    layout: l,
    actions: p.actions,
    evidence: (id, instance) => p.evidence.get(id, instance),
    log: log.child({ component: 'api' }),
    now: p.status.now,
    monotonic: () => clock.monotonic(),
    // Shared by the representation cache: one computation per change (and second) for every client.
    summary: () => currentSummary(p.status),
    runners: () => [...Object.values(loops).map((r) => r.status), ...(retention ? [retention.runner.status] : [])],
    exposition: p.exposition,
    metrics: async () => ({
      version: VERSION,
      observer: p.observer.counters(),
      services: p.observer.current().services,
      nodes: p.observer.current().nodes,
      missing: missingServices(p.observer.current(), p.desired.current()).length,
      telegram: telegram ? { ...telegram.outbox.stats, queued: telegram.outbox.pending().length, poll_restarts: telegram.pollingHealth.restarts } : undefined,
      executor: p.executor.stats,
      notices_open: (await p.supervisorState.notices()).filter((n) => n.state === 'open').length,
      heal_budgets: budgetList(p.desired.current(), await p.supervisorState.healBudgets(), p.status.now()),
      ...(retention?.retention.status ? { data_bytes: retention.retention.status.bytes } : {}),
      ...(nats ? { nats: natsHealth(nats) } : {}),
    }),
    ingestTokens: config.ingestTokens,
    aliases: config.aliases,
    agentsRunning: () => nodesWithAgentsRunning(p.observer.current()),
    storage: () => storageStatus(l.root),
    ...(telegram ? { telegram: () => ({ ...telegram.outbox.health, polling: telegram.pollingHealth }) } : {}),
    ...(heartbeat ? { heartbeat: () => heartbeat.status } : {}),
    ...(nats ? { nats: () => natsHealth(nats) } : {}),
  });
}
