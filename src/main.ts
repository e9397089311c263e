// Composition root (ARCHITECTURE.md): wiring only — claim the data directory, build the parts
// (src/app/parts.ts), catch the world up, build the loops, the bot and the API, and hand the
// components to one Lifecycle; the stop goes back through it in reverse.
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { realClock, type Clock } from './time/clock.js';
import type { Runner } from './loops/runner.js';
import type { TelegramBot } from './bot/bot.js';
import type { buildServer } from './api/server.js';
import { claimRoot, releaseRoot } from './store/pid.js';
import { WorldFiles } from './store/world.js';
import { Bus } from './app/bus.js';
import { Lifecycle } from './app/lifecycle.js';
import { buildParts, type Parts } from './app/parts.js';
import { buildLoops, type LoopName } from './app/loops.js';
import { announceComponent, buildTelegram } from './app/telegram.js';
import { buildApi } from './app/api.js';
import { buildNats, leaderOnly, natsComponent, natsEventsComponent } from './app/nats.js';
import { ActionStore } from './store/actions.js';
import { buildRetention } from './app/retention.js';
import type { Retention } from './loops/retention.js';
import { buildHeartbeat, executorComponent, retentionComponent, heartbeatComponent, watchdogComponent, inspectorComponent, pidFileComponent, probeListen, runnerComponent, serverComponent, telegramComponent, updateCheckerComponent, watchersComponent, worldFilesComponent } from './app/components.js';
import type { Heartbeat } from './loops/heartbeat.js';

export type { LoopName } from './app/loops.js';

export interface Running extends Parts {
  telegram: TelegramBot | undefined;
  server: ReturnType<typeof buildServer>;
  /** Where the web server listens (the port is the real one when PORT=0). */
  address: string;
  /** The loops by name (tests run a pass with `loops.supervisor.runNow()`). */
  loops: Record<LoopName, Runner>;
  runners: Runner[];
  bus: Bus;
  heartbeat: Heartbeat | undefined;
  retention: Retention;
  stop(): Promise<void>;
}

/**
 * `onStuck`: what the watchdog does about a loop stuck in one pass (the run command: exit 1, so
 * the container restarts); without it the watchdog only says so (tests, tools).
 */
export async function startControlPlane(config: Config, log: Logger, clock: Clock = realClock, onStuck?: (why: string) => void): Promise<Running> {
  await probeListen(config);
  const l = await claimRoot(config.homelabRoot);
  const lifecycle = new Lifecycle(log, clock);
  try {
    const bus = new Bus();
    const nats = buildNats(config, l, log, clock, (why) => onStuck?.(why));
    const parts = await buildParts(config, l, log, clock, bus, nats && { actions: nats.actions, leader: nats.lease, docs: nats.docs, evidence: nats.evidence });
    // World must be current before the supervisor judges it: catch up once before the loops start
    // (what the checkpoint held before is what the start message compares with).
    const before = await new WorldFiles(l, log).read();
    await parts.observer.pass();
    // Written before the loops start: retention removes only what the checkpoint on disk has applied.
    await parts.observer.flush();
    // With NATS, the supervisor and the executor act only in the leader (docs/design/leader.md).
    const leading = nats ? () => nats.lease.leading() : () => true;
    const loops = buildLoops(config, parts, bus, log, clock, leading);
    // A new leader acts at once, not at its next interval: the executor first puts right what the
    // last leader left and runs what was approved meanwhile; the supervisor plans.
    nats?.lease.onGained(() => {
      loops.executor.kick();
      loops.supervisor.kick();
    });
    const telegram = buildTelegram(config, l, parts, loops, bus, log, clock, nats && { outbox: nats.outbox, docs: nats.docs });
    const heartbeat = buildHeartbeat(config, loops, telegram, log, clock, leading);
    const retention = buildRetention(config, l, parts, telegram, bus, log, clock);
    const server = buildApi(config, l, parts, loops, telegram, bus, log, clock, heartbeat, retention, nats);
    parts.status.data = () => retention.retention.status;
    const address = { value: '' };
    await lifecycle.start([
      pidFileComponent(l),
      // With NATS, the actions are in its KV: connected and read before anything uses them, closed last.
      ...(nats ? [natsComponent(nats, log, clock)] : []),
      // Stops after everything else (components stop in reverse), also when a later start fails:
      // the world files' last trailing write is done before the stop (or the failed start) returns.
      worldFilesComponent(parts.observer),
      // Telegram stops after the executor (components stop in reverse): what a stop waits for
      // and an action it records interrupted reach the chat.
      // Only the leader talks to the chat: Telegram allows one poller per bot.
      ...(telegram ? [leaderOnly(telegramComponent(telegram, () => parts.executor.waitedAtStop), nats?.lease, log)] : []),
      ...(telegram && config.telegram.lifecycleMessages ? [leaderOnly(announceComponent(telegram, l, parts, before, log, clock), nats?.lease, log)] : []),
      executorComponent(parts.executor, config.shutdownGraceS),
      inspectorComponent(parts.inspector),
      ...Object.values(loops).map(runnerComponent),
      retentionComponent(retention.retention, retention.runner),
      leaderOnly(updateCheckerComponent(parts.checker, parts.updates), nats?.lease, log),
      watchersComponent(config.hostsDir, l, bus, log, [parts.updates.updatesFile, parts.updates.skipsFile], parts.actions instanceof ActionStore ? parts.actions : undefined, parts.observer.eventHints),
      // After the watchers: what it appends to the events files is seen as an agent's append is.
      ...(nats ? [natsEventsComponent(nats)] : []),
      serverComponent(server, config, address),
      watchdogComponent([...Object.values(loops), retention.runner, ...(telegram ? [telegram.loop] : [])], log, clock, onStuck ?? (() => {})),
      // Last: /start only once everything else has started.
      ...(heartbeat ? [heartbeatComponent(heartbeat)] : []),
    ]);
    log.info({ address: address.value }, `web page and API on ${address.value}`);
    log.info({ root: l.root, hosts: config.hostsDir, nodes: Object.keys(parts.desired.current()) }, 'control plane running');
    return { ...parts, telegram, server, address: address.value, loops, runners: Object.values(loops), bus, heartbeat, retention: retention.retention, stop: () => lifecycle.stop() };
  } catch (err) {
    await lifecycle.stop();
    await releaseRoot(l);
    throw err;
  }
}
