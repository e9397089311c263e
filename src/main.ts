// Composition root: config → logger → stores → loops → bot → web server, and the stop in reverse. Only this file starts watchers; timers come from src/time (ARCHITECTURE.md).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { ConfigError, type Config } from './config.js';
import type { Logger } from './log.js';
import { Observer } from './loops/observer.js';
import { realClock, type Clock } from './time/clock.js';
import { DEFAULT_PLAN_CONFIG } from './domain/plan.js';
import { Runner } from './loops/runner.js';
import { Supervisor } from './loops/supervisor.js';
import { Executor } from './loops/executor.js';
import { hasSshCredentials, sshCredentialsHint, type EngineOptions } from './docker/engine.js';
import { TelegramBot } from './bot/bot.js';
import { currentSummary, sharedSummary, type StatusSources } from './status.js';
import { buildServer } from './api/server.js';
import { Metrics } from './api/metrics.js';
import { VERSION } from './status.js';
import { ActionStore } from './store/actions.js';
import { SupervisorState } from './store/supervisor-state.js';
import { writeFileAtomic } from './store/atomic.js';
import { DesiredStore, problemWhere, type DesiredProblem } from './store/desired.js';
import { checkOneFilesystem, ensureLayout, layout, storageStatus } from './store/paths.js';

export interface Running {
  observer: Observer;
  supervisor: Supervisor;
  executor: Executor;
  telegram: TelegramBot | undefined;
  status: StatusSources;
  actions: ActionStore;
  server: ReturnType<typeof buildServer>;
  /** Where the web server listens (the port is the real one when PORT=0). */
  address: string;
  supervisorState: SupervisorState;
  desired: DesiredStore;
  runners: Runner[];
  stop(): Promise<void>;
}

/** The pid file under state/, so offline tools (replay) can refuse to run beside a live process. */
export function pidFile(stateDir: string): string {
  return path.join(stateDir, 'control-plane.pid');
}

/**
 * The pid of a control plane running on this state directory, if any. A pid file whose process
 * is gone, or is another program now (pids are reused after a reboot), does not count: on Linux
 * /proc/<pid>/cmdline must name this program's `run`.
 */
export async function readLivePid(stateDir: string): Promise<number | undefined> {
  const text = await fs.readFile(pidFile(stateDir), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return pid; // no /proc: trust the pid file
  const args = cmdline.split('\0');
  const ours = args.some((a) => /(?:^|\/)(?:cli\.js|control-plane)$/.test(a)) && args.includes('run');
  return ours ? pid : undefined;
}

export async function startControlPlane(config: Config, log: Logger, clock: Clock = realClock): Promise<Running> {
  const now = () => clock.now();
  const l = layout(config.homelabRoot);
  await ensureLayout(l);
  await checkOneFilesystem(l).catch((err: Error) => {
    throw new ConfigError('HOMELAB_ROOT', err.message);
  });
  const other = await readLivePid(l.state);
  if (other !== undefined) {
    throw new ConfigError('HOMELAB_ROOT', `another control plane (pid ${other}) is running on ${l.root}; stop it first, or give this one another HOMELAB_ROOT (if pid ${other} is not a control plane, remove ${pidFile(l.state)})`);
  }
  await writeFileAtomic(pidFile(l.state), `${process.pid}\n`);

  const desired = new DesiredStore(config.hostsDir);
  const first = await desired.reload();
  reportDesiredProblems(log, first.problems, desired.current());
  warnSshWithoutCredentials(log, desired.current(), { sshKeyPath: config.ssh.keyPath, sshAuthSock: config.ssh.authSock });

  const observer = new Observer({ layout: l, config, log: log.child({ component: 'observer' }), now, desired: () => desired.current() });
  await observer.init();

  const actions = new ActionStore(l.actions, now);
  await actions.ensureDirs();
  for (const line of await actions.recover()) log.warn({ component: 'actions' }, line);
  const supervisorState = new SupervisorState(l.state);
  await supervisorState.ensureDirs();
  // Anything that changes an action tells the bot (bound once the bot exists).
  let actionsChanged = (): void => {};
  const supervisor = new Supervisor({
    actions,
    state: supervisorState,
    log: log.child({ component: 'supervisor' }),
    now,
    world: () => observer.current(),
    desired: () => desired.current(),
    desiredProblems: () => desired.problems(),
    planConfig: { ...DEFAULT_PLAN_CONFIG, missingGraceS: config.missingGraceS },
    onCreated: () => actionsChanged(),
  });

  const exposition = new Metrics();
  const executor = new Executor({
    actions,
    desired: () => desired.current(),
    world: () => observer.current(),
    log: log.child({ component: 'executor' }),
    now,
    actionTimeoutS: config.actionTimeoutS,
    verifyAfterS: config.verifyAfterS,
    engineOptions: { sshKeyPath: config.ssh.keyPath, sshAuthSock: config.ssh.authSock },
    onChange: () => actionsChanged(),
    interruptedFile: path.join(l.state, 'interrupted-redeploys.json'),
    onDuration: (type, seconds) => exposition.observeAction(type, seconds),
    clock,
  });
  await executor.init();

  // World must be current before the supervisor judges it: catch up once before the loops start.
  await observer.pass();

  const interval = config.reconcileIntervalS * 1000;
  const supervisorLoop = new Runner(
    'supervisor',
    interval,
    async () => {
      const r = await supervisor.pass();
      if (r.cancelled.length || r.notices.opened.length || r.notices.closed.length || r.notices.updated.length) actionsChanged();
    },
    log,
    clock,
  );
  const observerLoop = new Runner('observer', interval, async () => void (await observer.pass()), log, clock);
  const executorLoop = new Runner('executor', interval, () => executor.pass(), log, clock);
  // Whoever adopts a file moved by hand into approved/ (supervisor, executor, watcher), the
  // executor hears of it at once.
  actions.onAdopted((a) => {
    actionsChanged();
    if (a.state === 'approved') executorLoop.kick();
  });
  observer.onPublish(() => {
    supervisorLoop.kick();
    void executor.checkVerifications().catch((err) => log.error({ err }, 'verification check failed'));
  });
  const desiredLoop = new Runner(
    'desired',
    interval,
    async () => {
      const r = await desired.reload();
      if (r.changed) {
        reportDesiredProblems(log, r.problems, desired.current());
        observerLoop.kick();
        supervisorLoop.kick();
      }
    },
    log,
    clock,
  );

  const watchers: FSWatcher[] = [];
  const ignoreDot = (p: string) => path.basename(p).startsWith('.');
  // Watching is a hint: the loops also rescan every interval, so a missed event costs one interval.
  const eventsWatcher = watch(l.events, { ignoreInitial: true, depth: 1, ignored: ignoreDot, followSymlinks: false });
  eventsWatcher.on('all', () => observerLoop.hint());
  // chokidar drops a 'change' whose mtime equals the last one it saw, and Linux stamps mtimes with
  // a coarse clock (a few ms): two quick appends can look like one. Its 'raw' events come straight
  // from inotify, one per write, so no append goes unnoticed until the next rescan.
  eventsWatcher.on('raw', () => observerLoop.hint());
  eventsWatcher.on('error', (err) => log.warn({ err }, 'watching events/ failed; falling back to the interval rescan'));
  watchers.push(eventsWatcher);
  const hostsWatcher = watch(config.hostsDir, { ignoreInitial: true, depth: 2, ignored: ignoreDot, followSymlinks: false });
  hostsWatcher.on('all', () => desiredLoop.hint());
  hostsWatcher.on('error', (err) => log.warn({ err }, 'watching hosts/ failed; falling back to the interval rescan'));
  watchers.push(hostsWatcher);

  // A file moved by hand (`mv pending/x.json approved/`) is noticed at once.
  const actionsWatcher = watch(l.actions, { ignoreInitial: true, depth: 1, ignored: ignoreDot, followSymlinks: false });
  actionsWatcher.on('all', () => actionsChanged());
  actionsWatcher.on('add', (p) => {
    supervisorLoop.hint();
    if (path.basename(path.dirname(p)) === 'approved') executorLoop.hint();
  });
  actionsWatcher.on('error', (err) => log.warn({ err }, 'watching actions/ failed; falling back to the interval rescan'));
  watchers.push(actionsWatcher);

  const status: StatusSources = {
    world: () => observer.current(),
    desired: () => desired.current(),
    desiredProblems: () => desired.problems(),
    actions,
    supervisorState,
    observerCounters: () => observer.counters(),
    now,
  };

  let telegram: TelegramBot | undefined;
  if (config.telegram.token && config.telegram.chatId) {
    telegram = new TelegramBot({
      options: {
        token: config.telegram.token,
        chatId: config.telegram.chatId,
        adminIds: config.telegram.adminIds,
        apiRoot: config.telegram.apiRoot,
        digestCron: config.digestCron,
        tz: config.tz,
        pageUrl: `http://${config.host}:${config.port}/`,
        intervalMs: interval,
      },
      stateDir: l.state,
      actions,
      supervisorState,
      log: log.child({ component: 'telegram' }),
      now,
      clock,
      summary: () => currentSummary(status),
      world: () => observer.current(),
      desired: () => desired.current(),
      replay: async () => {
        observer.requestReplay();
        await observerLoop.runNow();
        const p = observer.lastPass;
        return { applied: p?.applied ?? 0, malformed: p?.malformed ?? 0 };
      },
      kickSupervisor: () => supervisorLoop.kick(),
    });
    const bot = telegram;
    actionsChanged = () => bot.loop.hint();
    if (config.telegram.adminIds.length === 0) log.warn('TELEGRAM_ADMIN_IDS is empty: nobody can approve from Telegram');
  }

  const server = buildServer({
    layout: l,
    actions,
    log: log.child({ component: 'api' }),
    now,
    summary: sharedSummary(status),
    runners: () => runners.map((r) => r.status),
    exposition,
    metrics: async () => ({
      version: VERSION,
      observer: observer.counters(),
      services: observer.current().services,
      nodes: observer.current().nodes,
      missing: currentMissing(observer.current(), desired.current()),
      telegram: telegram ? { ...telegram.outbox.stats, queued: telegram.outbox.pending().length } : undefined,
      executor: executor.stats,
      notices_open: (await supervisorState.notices()).filter((n) => n.state === 'open').length,
    }),
    ingestTokens: config.ingestTokens,
    aliases: config.aliases,
    storage: () => storageStatus(l.root),
  });

  // Everything written before the watchers are ready is caught by the first pass of each loop.
  await Promise.all(watchers.map((w) => new Promise<void>((resolve) => w.once('ready', () => resolve()))));
  const runners = [observerLoop, desiredLoop, supervisorLoop, executorLoop];
  for (const r of runners) r.start();
  await telegram?.start();
  let address: string;
  try {
    address = await server.listen({ host: config.host, port: config.port });
  } catch (err) {
    for (const r of runners) await r.stop();
    await telegram?.stop();
    await Promise.all(watchers.map((w) => w.close()));
    await fs.rm(path.join(l.state, 'control-plane.pid'), { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    const variable = code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'HOST' : 'PORT';
    throw new ConfigError(variable, `cannot listen on ${config.host}:${config.port}: ${(err as Error).message}${variable === 'PORT' ? ' (another process uses that port? set PORT)' : ' (not an address of this machine; set HOST)'}`);
  }
  log.info({ address }, `web page and API on ${address}`);
  log.info({ root: l.root, hosts: config.hostsDir, nodes: Object.keys(desired.current()) }, 'control plane running');

  return {
    observer,
    supervisor,
    executor,
    telegram,
    status,
    actions,
    server,
    address,
    supervisorState,
    desired,
    runners,
    async stop() {
      // The executor stops taking actions first; one under way gets SHUTDOWN_GRACE_S to finish
      // or roll back while the rest stops, each part bounded, whatever hangs (Telegram, a client).
      const executorDone = executor.stop(config.shutdownGraceS * 1000);
      await bounded(server.close(), 1000);
      await bounded(Promise.all(watchers.map((w) => w.close())), 1000);
      await bounded(telegram?.stop(), 2000);
      for (const r of runners) await bounded(r.stop(), 1000);
      await executorDone;
      await fs.rm(path.join(l.state, 'control-plane.pid'), { force: true });
    },
  };
}

/** One warning per ssh:// target when there is no key and no agent to log in with. */
function warnSshWithoutCredentials(log: Logger, desired: Readonly<Record<string, { node: string; docker: { url?: string } }>>, opts: EngineOptions): void {
  if (hasSshCredentials(opts)) return;
  for (const dn of Object.values(desired)) {
    if (dn.docker.url?.startsWith('ssh://')) log.warn({ node: dn.node }, `${dn.node}: ${sshCredentialsHint(dn.docker.url)}; until then its actions fail`);
  }
}

/** Services services.yaml asks to watch that world state has never heard of. */
function currentMissing(world: { services: Record<string, unknown> }, desired: ReturnType<DesiredStore['current']>): number {
  let n = 0;
  for (const dn of Object.values(desired)) for (const s of Object.values(dn.services)) if (s.monitor && !world.services[`${dn.node}/${s.service}`]) n++;
  return n;
}

/** Waits for `p`, but no longer than `ms`: a stop must not hang on a part that does. */
async function bounded(p: Promise<unknown> | undefined, ms: number, clock: Clock = realClock): Promise<void> {
  if (!p) return;
  const giveUp = new AbortController();
  await Promise.race([p.catch(() => {}), clock.sleep(ms, giveUp.signal)]);
  giveUp.abort();
}

/** Logs each problem, saying truthfully whether a last good version of that node is in force. */
export function reportDesiredProblems(log: Logger, problems: readonly DesiredProblem[], inForce: Readonly<Record<string, unknown>>): void {
  for (const p of problems) {
    const what = inForce[p.node] ? 'the last good version stays in force' : `${p.node} is left out until the file is fixed`;
    log.error({ file: p.file, line: p.line, col: p.col, reason: p.reason }, `desired state: ${problemWhere(p)}: ${p.reason} (${what})`);
  }
}
