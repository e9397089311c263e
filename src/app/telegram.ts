// The Telegram bot wired to the parts it reads and the loops it kicks.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/clock.js';
import type { Runner } from '../loops/runner.js';
import { TelegramBot } from '../bot/bot.js';
import { currentSummary } from '../status.js';
import type { Layout } from '../store/paths.js';
import type { Bus } from './bus.js';
import type { Parts } from './parts.js';
import type { LoopName } from './loops.js';

/** The bot, when Telegram is configured; it follows every action change. */
export function buildTelegram(config: Config, l: Layout, p: Parts, loops: Record<LoopName, Runner>, bus: Bus, log: Logger, clock: Clock): TelegramBot | undefined {
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
      ...(config.telegram.threadId !== undefined ? { threadId: config.telegram.threadId } : {}),
    },
    stateDir: l.state,
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
    skipVersion: async (a, by) => {
      for (const img of a.update?.images ?? []) await p.updates.skip(`${a.node}/${a.service}`, { digest: img.to_digest, at: new Date(clock.now()).toISOString(), reason: 'skipped', by });
    },
  });
  bus.on('actionsChanged', () => bot.loop.hint());
  if (config.telegram.adminIds.length === 0) log.warn('TELEGRAM_ADMIN_IDS is empty: nobody can approve from Telegram');
  return bot;
}
