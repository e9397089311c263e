// The Telegram bot wired to the parts it reads and the loops it kicks.
import type { OutboxRecords } from '../store/outbox-files.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/clock.js';
import type { Runner } from '../loops/runner.js';
import { TelegramBot } from '../bot/bot.js';
import { esc } from '../bot/render.js';
import { currentSummary } from '../status.js';
import type { Layout } from '../store/paths.js';
import type { Bus } from './bus.js';
import type { Parts } from './parts.js';
import type { LoopName } from './loops.js';
import type { Component } from './lifecycle.js';
import type { World } from '../domain/schemas.js';
import { awayChanges, startMessage } from '../domain/while-away.js';
import { LifecycleFile } from '../store/lifecycle-mark.js';
import type { DocStore } from '../store/doc-store.js';

/** The bot, when Telegram is configured; it follows every action change. */
/** `shared`: with NATS, the outbox's records and the digest's mark in KV (a new leader goes on with the same messages). */
export function buildTelegram(config: Config, l: Layout, p: Parts, loops: Record<LoopName, Runner>, bus: Bus, log: Logger, clock: Clock, shared?: { outbox: OutboxRecords; docs: DocStore }): TelegramBot | undefined {
  if (!config.telegram.token || !config.telegram.chatId) return undefined;
  const bot = new TelegramBot({
    options: {
      token: config.telegram.token,
      chatId: config.telegram.chatId,
      adminIds: config.telegram.adminIds,
      apiRoot: config.telegram.apiRoot,
      digestCron: config.digestCron,
      tz: config.tz,
      pageUrl: `http://${config.host}:${config.port}/`,
      intervalMs: config.reconcileIntervalS * 1000,
      pollTimeoutS: config.telegram.pollTimeoutS,
      ...(config.telegram.threadId !== undefined ? { threadId: config.telegram.threadId } : {}),
    },
    stateDir: l.state,
    ...(shared ? { outboxRecords: shared.outbox, stateDocs: shared.docs } : {}),
    actions: p.actions,
    supervisorState: p.supervisorState,
    log: log.child({ component: 'telegram' }),
    now: () => clock.now(),
    clock,
    summary: () => currentSummary(p.status),
    world: () => p.observer.current(),
    desired: () => p.desired.current(),
    replay: async () => {
      p.observer.requestReplay();
      await loops.observer.runNow();
      const last = p.observer.lastPass;
      return { applied: last?.applied ?? 0, malformed: last?.malformed ?? 0 };
    },
    kickSupervisor: () => loops.supervisor.kick(),
    stopping: (a) => p.executor.stoppingFor(a),
    evidence: {
      get: (id, instance) => p.evidence.get(id, instance),
      fresh: (a) => p.inspector.refresh(a),
      tail: (node, service, lines) => p.inspector.tail(node, service, lines),
    },
    updates: () => ({ updates: p.updates.updates(), skips: p.updates.skips() }),
    data: () => p.status.data?.()?.bytes,
    skipVersion: async (a, by) => {
      for (const img of a.update?.images ?? []) await p.updates.skip(`${a.node}/${a.service}`, { digest: img.to_digest, at: new Date(clock.now()).toISOString(), reason: 'skipped', by });
    },
  });
  bus.on('actionsChanged', () => bot.loop.hint());
  if (config.telegram.adminIds.length === 0) log.warn('TELEGRAM_ADMIN_IDS is empty: nobody can approve from Telegram');
  return bot;
}

/** Announcements at most this often; starts in between are counted into the next one. */
const ANNOUNCE_EVERY_MS = 10 * 60_000;
/** The last sign of life is written this often. */
const ALIVE_EVERY_MS = 60_000;

/**
 * The start and stop messages (docs/operator/telegram.md): one quiet message at start — version,
 * nodes, services, pending actions, and after a gap what changed meanwhile (`before`: the world
 * the checkpoint held, before the events of the gap were applied) — at most one per 10 minutes (a
 * crash loop says how many starts it was); one at a clean stop, given a moment to be delivered.
 */
export function announceComponent(bot: TelegramBot, l: Layout, p: Parts, before: World, log: Logger, clock: Clock): Component {
  const file = new LifecycleFile(l.state);
  let cancel: (() => void) | undefined;
  const alive = async () => {
    const m = await file.read();
    await file.write({ ...m, alive_at: new Date(clock.now()).toISOString(), stopped_at: null }).catch((err: unknown) => log.warn({ err }, 'cannot write the lifecycle mark'));
    cancel = clock.timer(ALIVE_EVERY_MS, () => void alive());
  };
  return {
    name: 'start and stop messages',
    stopBudgetMs: 1500,
    start: async () => {
      const now = clock.now();
      const mark = await file.read();
      const last = mark.announced_at ? Date.parse(mark.announced_at) : -Infinity;
      if (now - last < ANNOUNCE_EVERY_MS) {
        await file.write({ ...mark, unannounced: mark.unannounced + 1 });
      } else {
        const sum = await currentSummary(p.status);
        const lines = startMessage({ version: sum.version, nodes: sum.nodes.length, services: Object.values(p.desired.current()).reduce((n, d) => n + Object.keys(d.services).length, 0), pending: sum.actions.counts.pending, awaySince: mark.stopped_at ?? mark.alive_at, changes: awayChanges(before, p.observer.current()), restarts: mark.unannounced }, now);
        await bot.announce(`lifecycle:start@${new Date(now).toISOString()}`, lines.map((x) => esc(x)).join('\n'));
        await file.write({ ...mark, announced_at: new Date(now).toISOString(), unannounced: 0 });
      }
      await alive();
    },
    stop: async () => {
      cancel?.();
      const now = new Date(clock.now()).toISOString();
      const mark = await file.read();
      await file.write({ ...mark, alive_at: now, stopped_at: now }).catch(() => {});
      await bot.announce(`lifecycle:stop@${now}`, `⏹ Control plane stopping at ${now.slice(11, 16)} UTC (a clean stop): nothing is watched until it starts again.`);
      // The outbox still runs (the bot stops after this): a moment for the message when Telegram
      // answers (a poll came back lately), none when it does not — the stop stays within 5 s.
      const lastPoll = bot.pollingHealth.last_poll_at;
      if (bot.outbox.health.state !== 'ok' || !lastPoll || clock.now() - Date.parse(lastPoll) > 120_000) return;
      const done = new AbortController();
      await Promise.race([bot.outbox.whenIdle(), clock.sleep(1000, done.signal)]).finally(() => done.abort());
    },
  };
}
