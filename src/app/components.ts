// The control plane's components, each with start(signal)/stop() for the Lifecycle, in the order
// main.ts starts them (and the reverse of the order they stop in).
import { existsSync, promises as fs, watch as fsWatch, type FSWatcher as NodeWatcher } from 'node:fs';
import { ACTION_STATES, type ActionState } from '../domain/actions.js';
import net from 'node:net';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { buildServer } from '../api/server.js';
import type { TelegramBot } from '../bot/bot.js';
import type { Inspector } from '../loops/inspector.js';
import type { Observer } from '../loops/observer.js';
import type { UpdateChecker } from '../loops/updates.js';
import type { UpdatesStore } from '../store/updates.js';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Executor } from '../loops/executor.js';
import { stuckLoops, type Runner } from '../loops/runner.js';
import { Heartbeat } from '../loops/heartbeat.js';
import { EventsWatcher, type EventHintsSink } from './events-watcher.js';
import type { Clock } from '../time/clock.js';
import type { Layout } from '../store/paths.js';
import { releaseRoot } from '../store/pid.js';
import type { Bus } from './bus.js';
import type { Component } from './lifecycle.js';

/** Removes state/control-plane.pid at the very end of a stop (it was written by claimRoot). */
export function pidFileComponent(l: Layout): Component {
  return {
    name: 'pid file',
    start: () => {},
    stop: () => releaseRoot(l),
  };
}

/**
 * The executor takes nothing new from the moment a stop begins (the start signal aborts); an
 * action under way gets SHUTDOWN_GRACE_S from then to finish or roll back.
 */
export function executorComponent(executor: Executor, graceS: number): Component {
  let stopping: Promise<void> | undefined;
  return {
    name: 'executor',
    stopBudgetMs: graceS * 1000 + 2000,
    start: (signal) => {
      signal.addEventListener('abort', () => (stopping ??= executor.stop(graceS * 1000)), { once: true });
    },
    stop: () => (stopping ??= executor.stop(graceS * 1000)),
  };
}

/** Evidence collections under way get a second at stop; then nothing more is written. */
export function inspectorComponent(inspector: Inspector): Component {
  return { name: 'inspector', start: () => {}, stop: () => inspector.stop(1000), stopBudgetMs: 1500 };
}

/**
 * Image update checks every UPDATE_CHECK_INTERVAL_H; the first soon after start when the last is
 * older than that. A check under way at stop gets a second.
 */
export function updateCheckerComponent(checker: UpdateChecker, store: UpdatesStore): Component {
  return {
    name: 'update checker',
    start: async () => {
      const st = await fs.stat(store.updatesFile).catch(() => undefined);
      checker.start(st?.mtimeMs);
    },
    stop: () => checker.stop(1000),
    stopBudgetMs: 1500,
  };
}

/** At stop, after the observer's loop: what the observer has not written yet is written now. */
export function worldFilesComponent(observer: Observer): Component {
  return { name: 'world files', start: () => {}, stop: () => observer.flush(), stopBudgetMs: 1000 };
}

export function runnerComponent(r: Runner): Component {
  return { name: `${r.name} loop`, start: () => r.start(), stop: () => r.stop(), stopBudgetMs: 1000 };
}

/** The retention loop: a stop makes a fold under way give up between two files. */
export function retentionComponent(retention: { stop(): void }, runner: Runner): Component {
  return { name: 'retention loop', start: () => runner.start(), stop: () => (retention.stop(), runner.stop()), stopBudgetMs: 1000 };
}

/** What the action store takes from the watchers (store/action-queries.ts). */
export interface ActionHints {
  indexByHints(): void;
  dropIndex(): void;
  hint(state: ActionState, name: string): void;
  hintDir(state: ActionState): void;
}

/**
 * File watchers as hints: events/ and its days (events-watcher.ts: each write names its file, and
 * the observer reads only those), hosts/, actions/ (a file moved by hand is noticed at once; the
 * store lists from what it read until a hint names a change) and the update files. The loops also
 * rescan every interval, so a missed event costs one interval. Started once they are ready: what
 * was written before is caught by the first pass of each loop.
 */
export function watchersComponent(hostsDir: string, l: Layout, bus: Bus, log: Logger, updateFiles: readonly string[] = [], actions?: ActionHints, eventHints?: EventHintsSink): Component {
  const watchers: FSWatcher[] = [];
  let events: EventsWatcher | undefined;
  /** fs.watch watchers: actions/<state>/ and the update files' directories. */
  const actionWatchers: NodeWatcher[] = [];
  const ignoreDot = (p: string) => path.basename(p).startsWith('.');
  const opts = { ignoreInitial: true, ignored: ignoreDot, followSymlinks: false };
  return {
    name: 'watchers',
    stopBudgetMs: 1000,
    async start() {
      // One event per write, straight from inotify (chokidar drops a 'change' whose mtime equals
      // the last one it saw, and reads the directory whole at each).
      events = new EventsWatcher(l.events, () => bus.emit('eventsWritten'), eventHints, log);
      await events.start();
      const hosts = watch(hostsDir, { ...opts, depth: 2 });
      hosts.on('all', () => bus.emit('hostsTouched'));
      // actions/<state>/ through inotify itself (fs.watch), one watch per directory: chokidar reads
      // a directory whole (readdir + an lstat per entry) at every change in it, which with a
      // thousand open actions cost a second of CPU per action written (docs/benchmarks.md).
      for (const state of ACTION_STATES) {
        const dir = l.actionDir(state);
        const w = fsWatch(dir, { persistent: false }, (type, name) => {
          if (name) actions?.hint(state, name);
          else actions?.hintDir(state);
          if (!name || name.startsWith('.')) return;
          bus.emit('actionsChanged');
          // A name that appeared (created, or moved here: an approval by `mv`): a hint, checked by its loop.
          if (type === 'rename' && existsSync(path.join(dir, name))) bus.emit('actionFileAdded', state);
        });
        w.on('error', (err) => {
          actions?.dropIndex();
          log.warn({ err }, `watching ${dir} failed; falling back to the interval rescan`);
        });
        actionWatchers.push(w);
      }
      // Every action directory is watched: the store lists from what it read until a hint says otherwise.
      actions?.indexByHints();
      // `control-plane updates check` and `updates skip` write these from another process. Their
      // directories through fs.watch, the names filtered here: chokidar reads a watched file's
      // directory whole at every change in it, and world/ changes at every write of the world.
      for (const dir of new Set(updateFiles.map((f) => path.dirname(f)))) {
        const names = new Set(updateFiles.filter((f) => path.dirname(f) === dir).map((f) => path.basename(f)));
        try {
          const w = fsWatch(dir, { persistent: false }, (_type, name) => {
            if (name && names.has(name)) bus.emit('updatesChanged');
          });
          w.on('error', (err) => log.warn({ err }, `watching ${dir} failed; falling back to the interval rescan`));
          actionWatchers.push(w);
        } catch (err) {
          log.warn({ err }, `watching ${dir} failed; falling back to the interval rescan`);
        }
      }
      for (const [w, what] of [[hosts, 'hosts/']] as const) {
        w.on('error', (err) => log.warn({ err }, `watching ${what} failed; falling back to the interval rescan`));
        watchers.push(w);
      }
      await Promise.all(watchers.map((w) => new Promise<void>((resolve) => w.once('ready', () => resolve()))));
    },
    stop: async () => {
      actions?.dropIndex();
      events?.stop();
      for (const w of actionWatchers.splice(0)) w.close();
      await Promise.all(watchers.map((w) => w.close()));
    },
  };
}

/**
 * Started before the executor, so it stops after it; `drain()` says whether the stop waited for an
 * action (then its last messages get a moment to be delivered).
 */
export function telegramComponent(bot: TelegramBot, drain: () => boolean = () => false): Component {
  return { name: 'telegram', start: () => bot.start(), stop: () => bot.stop(drain()), stopBudgetMs: 4500 };
}

/** A listen that failed, as the setting to change (HOST or PORT). */
function listenError(err: unknown, config: Config): ConfigError {
  const code = (err as NodeJS.ErrnoException).code;
  const variable = code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'HOST' : 'PORT';
  return new ConfigError(variable, `cannot listen on ${config.host}:${config.port}: ${(err as Error).message}${variable === 'PORT' ? ' (another process uses that port? set PORT)' : ' (not an address of this machine; set HOST)'}`);
}

/**
 * Before anything slow (the replay, Telegram): is HOST:PORT free? A taken port is said at once.
 * (The web server listens for real at the end of the start; this only finds the usual mistake early.)
 */
export async function probeListen(config: Config): Promise<void> {
  if (config.port === 0) return;
  const srv = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ host: config.host, port: config.port, exclusive: true }, () => resolve());
    });
  } catch (err) {
    throw listenError(err, config);
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

/** The web server; a listen that fails names HOST or PORT. */
export function serverComponent(server: ReturnType<typeof buildServer>, config: Config, address: { value: string }): Component {
  return {
    name: 'web server',
    stopBudgetMs: 1000,
    async start() {
      try {
        address.value = await server.listen({ host: config.host, port: config.port });
      } catch (err) {
        throw listenError(err, config);
      }
    },
    stop: () => server.close(),
  };
}

/**
 * The dead-man's switch (HEARTBEAT_URL): /start when everything has started, then a ping every
 * HEARTBEAT_INTERVAL_S saying whether the loops and the chat work (loops/heartbeat.ts).
 */
/** `leading`: with NATS, whether this control plane leads (a standby's chat is not running: not its to report). */
export function buildHeartbeat(config: Config, loops: Record<string, Runner>, telegram: TelegramBot | undefined, log: Logger, clock: Clock, leading: () => boolean = () => true): Heartbeat | undefined {
  if (!config.heartbeat) return undefined;
  return new Heartbeat({
    ...config.heartbeat,
    runners: () => [...Object.values(loops).map((r) => r.status), ...(telegram && leading() ? [telegram.loop.status] : [])],
    ...(telegram ? { stalledForMs: () => (leading() ? telegram.outbox.stalledForMs() : undefined) } : {}),
    log: log.child({ component: 'heartbeat' }),
    clock,
  });
}

export function heartbeatComponent(heartbeat: Heartbeat): Component {
  return { name: 'heartbeat', start: () => heartbeat.start(), stop: () => heartbeat.stop() };
}

/**
 * The product's own watchdog: a loop whose pass has been under way for more than five of its
 * intervals is stuck (a call that never returns), which no retry can cure. It says which loop and
 * since when, then `onStuck` ends the process (exit 1) so that Docker's `restart: unless-stopped`
 * starts a fresh one. Checked every `everyMs`.
 */
export function watchdogComponent(loops: readonly Runner[], log: Logger, clock: Clock, onStuck: (why: string) => void, everyMs = 10_000): Component {
  let cancel: (() => void) | undefined;
  const check = () => {
    const stuck = stuckLoops(loops.map((r) => r.status), clock.monotonic());
    if (stuck.length) {
      const why = stuck.map((s) => `the ${s.name} loop has been in one pass for ${Math.round(s.sinceMs / 1000)} s`).join('; ');
      log.fatal({ stuck }, `watchdog: ${why}`);
      return onStuck(why);
    }
    cancel = clock.timer(everyMs, check);
  };
  return {
    name: 'watchdog',
    start: () => void (cancel = clock.timer(everyMs, check)),
    stop: () => cancel?.(),
  };
}
