// Retention wired to the parts it keeps small: the observer's event days, the action store and
// its evidence, and the chat's outbox and references (the bot's when Telegram is on, else its files).
import type { TelegramBot } from '../bot/bot.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { ActionRetention, type MessageRetention } from '../loops/action-retention.js';
import { EventRetention } from '../loops/event-retention.js';
import { Retention, RETENTION_INTERVAL_MS } from '../loops/retention.js';
import { Runner } from '../loops/runner.js';
import { OutboxFiles, retiredRecord } from '../store/outbox-files.js';
import type { Layout } from '../store/paths.js';
import type { Clock } from '../time/clock.js';
import type { Bus } from './bus.js';
import type { Parts } from './parts.js';

/** The chat's side of retention: through the running bot, or on its files while Telegram is off. */
export function messageRetention(l: Layout, telegram: TelegramBot | undefined, log: Logger): MessageRetention {
  if (telegram) {
    return {
      prune: async (before, keys) => {
        const gone = await telegram.outbox.prune(before, keys);
        telegram.refs.forget(new Set([...keys, ...gone]));
        return gone.length;
      },
    };
  }
  const files = new OutboxFiles(l.telegram.outbox, log);
  return {
    prune: async (before, keys) => {
      const gone = (await files.load()).filter((r) => retiredRecord(r, before, keys));
      for (const r of gone) await files.remove(r.key);
      return gone.length;
    },
  };
}

export function buildRetention(config: Config, l: Layout, p: Parts, telegram: TelegramBot | undefined, bus: Bus, log: Logger, clock: Clock): { retention: Retention; runner: Runner } {
  const rlog = log.child({ component: 'retention' });
  const now = () => clock.now();
  const retention = new Retention({
    layout: l,
    events: new EventRetention({ layout: l, days: config.retention.eventsDays, config, observer: p.observer, log: rlog, now }),
    actions: new ActionRetention({
      actions: p.actions,
      evidence: p.evidence,
      archiveDir: l.archive,
      days: config.retention.actionsDays,
      archive: config.retention.archive,
      messages: messageRetention(l, telegram, rlog),
      log: rlog,
      now,
    }),
    settings: { events_days: config.retention.eventsDays, actions_days: config.retention.actionsDays, archive: config.retention.archive },
    log: rlog,
    now,
  });
  const pass = async () => {
    await retention.pass();
    bus.emit('retentionPassed');
  };
  return { retention, runner: new Runner('retention', RETENTION_INTERVAL_MS, pass, log, clock) };
}
