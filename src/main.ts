// Composition root (ARCHITECTURE.md): a short list of wiring steps — claim the data directory,
// build the parts, catch the world up, wire the signals, start the components in order — and
// the stop in reverse, through one Lifecycle. Timers come from src/time.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from './config.js';
import type { Logger } from './log.js';
import { nodesWithAgentsRunning } from './domain/observe.js';
import { Observer } from './loops/observer.js';
import { realClock, type Clock } from './time/clock.js';
import { DEFAULT_PLAN_CONFIG } from './domain/plan.js';
import { Runner } from './loops/runner.js';
import { Supervisor } from './loops/supervisor.js';
import { Executor } from './loops/executor.js';
import { engineOptionsOf } from './docker/engine.js';
import { remoteTargetWarnings } from './docker/target-warnings.js';
import { TelegramBot } from './bot/bot.js';
import { Inspector } from './loops/inspector.js';
import { EvidenceStore } from './store/evidence.js';
import { currentSummary, type StatusSources } from './status.js';
import { buildServer } from './api/server.js';
import { Metrics } from './api/metrics.js';
import { VERSION } from './status.js';
import { ActionStore } from './store/actions.js';
import { SupervisorState } from './store/supervisor-state.js';
import { writeFileAtomic } from './store/atomic.js';
import { DesiredStore, problemWhere, type DesiredProblem } from './store/desired.js';
import { checkOneFilesystem, ensureLayout, layout, pidFile, storageStatus, type Layout } from './store/paths.js';
import { Bus } from './app/bus.js';
import { Lifecycle, type Component } from './app/lifecycle.js';
import { executorComponent, inspectorComponent, pidFileComponent, probeListen, runnerComponent, serverComponent, telegramComponent, updateCheckerComponent, watchersComponent, worldFilesComponent } from './app/components.js';
import { UpdatesStore } from './store/updates.js';
import { RegistryClient } from './docker/registry.js';
import { UpdateChecker } from './loops/updates.js';
import type { DesiredState } from './domain/schemas.js';

export type LoopName = 'observer' | 'desired' | 'supervisor' | 'executor';

export interface Running {
  observer: Observer;
  supervisor: Supervisor;
  executor: Executor;
  telegram: TelegramBot | undefined;
  status: StatusSources;
  actions: ActionStore;
  server: ReturnType<typeof buildServer>;
  /** Image update checks (`checker.check()` runs one now) and their results. */
  checker: UpdateChecker;
  updates: UpdatesStore;
  /** Where the web server listens (the port is the real one when PORT=0). */
  address: string;
  supervisorState: SupervisorState;
  desired: DesiredStore;
  /** The loops by name (tests run a pass with `loops.supervisor.runNow()`). */
  loops: Record<LoopName, Runner>;
  runners: Runner[];
  bus: Bus;
  stop(): Promise<void>;
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
  await probeListen(config);
  const l = await claimRoot(config);
  const lifecycle = new Lifecycle(log, clock);
  try {
    const bus = new Bus();
    const parts = await buildParts(config, l, log, clock, bus);
    // World must be current before the supervisor judges it: catch up once before the loops start.
    await parts.observer.pass();
    const loops = buildLoops(config, parts, bus, log, clock);
    const telegram = buildTelegram(config, l, parts, loops, bus, log, clock);
    const server = buildApi(config, l, parts, loops, telegram, bus, log, clock);
    const address = { value: '' };
    await lifecycle.start([
      pidFileComponent(l),
      // Stops after everything else (components stop in reverse), also when a later start fails:
      // the world files' last trailing write is done before the stop (or the failed start) returns.
      worldFilesComponent(parts.observer),
      // Telegram stops after the executor (components stop in reverse): what a stop waits for
      // and an action it records interrupted reach the chat.
      ...(telegram ? [telegramComponent(telegram, () => parts.executor.waitedAtStop)] : []),
      executorComponent(parts.executor, config.shutdownGraceS),
      inspectorComponent(parts.inspector),
      ...Object.values(loops).map(runnerComponent),
      updateCheckerComponent(parts.checker, parts.updates),
      watchersComponent(config.hostsDir, l, bus, log, [parts.updates.updatesFile, parts.updates.skipsFile]),
      serverComponent(server, config, address),
    ]);
    log.info({ address: address.value }, `web page and API on ${address.value}`);
    log.info({ root: l.root, hosts: config.hostsDir, nodes: Object.keys(parts.desired.current()) }, 'control plane running');
    return { ...parts, telegram, server, address: address.value, loops, runners: Object.values(loops), bus, stop: () => lifecycle.stop() };
  } catch (err) {
    await lifecycle.stop();
    await fs.rm(pidFile(l.state), { force: true });
    throw err;
  }
}

/** The data directory: laid out, on one filesystem, and not used by another control plane. */
async function claimRoot(config: Config): Promise<Layout> {
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
  return l;
}

type Parts = Awaited<ReturnType<typeof buildParts>>;

/** Desired state, the stores, the observer, supervisor and executor, with crash recovery done. */
async function buildParts(config: Config, l: Layout, log: Logger, clock: Clock, bus: Bus) {
  const now = () => clock.now();
  const desired = new DesiredStore(config.hostsDir);
  const first = await desired.reload();
  reportDesiredProblems(log, first.problems, desired.current());
  for (const w of remoteTargetWarnings(desired.current(), engineOptionsOf(config))) log.warn({ node: w.node }, w.message);
  const observer = new Observer({ layout: l, config, log: log.child({ component: 'observer' }), now, desired: () => desired.current(), clock });
  await observer.init();
  const actions = new ActionStore(l.actions, now);
  await actions.ensureDirs();
  for (const line of await actions.recover()) log.warn({ component: 'actions' }, line);
  const supervisorState = new SupervisorState(l.state);
  await supervisorState.ensureDirs();
  const { updates, checker } = buildUpdates(config, l, () => desired.current(), log, clock, bus);
  const evidence = new EvidenceStore(path.join(l.actions, 'evidence'));
  const inspector = new Inspector({
    desired: () => desired.current(),
    world: () => observer.current(),
    evidence,
    engineOptions: engineOptionsOf(config),
    log: log.child({ component: 'inspector' }),
    tailLines: config.logTailLines,
    clock,
    onStored: () => bus.emit('actionsChanged'),
  });
  const supervisor = new Supervisor({
    actions,
    state: supervisorState,
    log: log.child({ component: 'supervisor' }),
    now,
    world: () => observer.current(),
    desired: () => desired.current(),
    desiredProblems: () => desired.problems(),
    planConfig: { ...DEFAULT_PLAN_CONFIG, missingGraceS: config.missingGraceS, verifyAfterS: config.verifyAfterS },
    onActionChanged: () => bus.emit('actionsChanged'),
    onActionCreated: (a) => inspector.collect(a),
    updates: () => updates.updates(),
    skips: () => updates.skips(),
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
    engineOptions: engineOptionsOf(config),
    onChange: () => bus.emit('actionsChanged'),
    interruptedFile: path.join(l.state, 'interrupted-redeploys.json'),
    onDuration: (type, seconds) => exposition.observeAction(type, seconds),
    registryCredentials: (domain) => config.updates.credentials[domain],
    onRolledBack: async (a, digests) => {
      for (const digest of digests) await updates.skip(`${a.node}/${a.service}`, { digest, at: new Date(now()).toISOString(), reason: 'rolled_back', by: 'executor' });
      bus.emit('updatesChanged');
    },
    onImageUpdated: (a) => void checker.check(`${a.node}/${a.service}`).catch((err) => log.warn({ err, id: a.id }, 'checking the updated service again failed')),
    clock,
  });
  await executor.init();
  const status: StatusSources = {
    world: () => observer.current(),
    desired: () => desired.current(),
    desiredProblems: () => desired.problems(),
    actions,
    supervisorState,
    observerCounters: () => observer.counters(),
    now,
  };
  return { desired, observer, actions, supervisorState, supervisor, executor, exposition, status, evidence, inspector, updates, checker };
}

/** The update checks' files, the registry client and the checker (docs/design/updates.md). */
function buildUpdates(config: Config, l: Layout, desired: () => DesiredState, log: Logger, clock: Clock, bus: Bus) {
  const updates = new UpdatesStore(l.world, l.state);
  const registry = new RegistryClient({ insecure: config.updates.insecure, credentials: new Map(Object.entries(config.updates.credentials)), now: () => clock.now() });
  for (const what of config.updates.unsupported) log.warn(`${config.updates.dockerConfig}/config.json: ${what} is not supported (credential helpers are programs of their own); registries needing it are checked anonymously`);
  const checker = new UpdateChecker({
    desired,
    store: updates,
    registry,
    engineOptions: engineOptionsOf(config),
    log: log.child({ component: 'updates' }),
    clock,
    intervalMs: config.updates.intervalMs,
    onChecked: () => bus.emit('updatesChanged'),
  });
  return { updates, checker };
}

/** The four loops, and who kicks whom (every loop also runs on its interval). */
function buildLoops(config: Config, p: Parts, bus: Bus, log: Logger, clock: Clock): Record<LoopName, Runner> {
  const interval = config.reconcileIntervalS * 1000;
  const loops: Record<LoopName, Runner> = {
    observer: new Runner('observer', interval, async () => void (await p.observer.pass()), log, clock),
    desired: new Runner('desired', interval, async () => {
      const r = await p.desired.reload();
      if (!r.changed) return;
      reportDesiredProblems(log, r.problems, p.desired.current());
      bus.emit('desiredChanged');
    }, log, clock),
    supervisor: new Runner('supervisor', interval, async () => {
      const r = await p.supervisor.pass();
      if (r.cancelled.length || r.notices.opened.length || r.notices.closed.length || r.notices.updated.length) bus.emit('actionsChanged');
    }, log, clock),
    executor: new Runner('executor', interval, () => p.executor.pass(), log, clock),
  };
  // Whoever adopts a file moved by hand into approved/ (supervisor, executor, watcher), the
  // executor hears of it at once.
  p.actions.onAdopted((a) => {
    bus.emit('actionsChanged');
    if (a.state === 'approved') bus.emit('approvedByHand');
  });
  p.observer.onPublish(() => bus.emit('worldPublished'));
  bus.on('worldPublished', () => {
    loops.supervisor.kick();
    void p.executor.checkVerifications().catch((err) => log.error({ err }, 'verification check failed'));
  });
  bus.on('desiredChanged', () => {
    p.observer.invalidate();
    loops.observer.kick();
    loops.supervisor.kick();
  });
  bus.on('approvedByHand', () => loops.executor.kick());
  bus.on('updatesChanged', () => {
    loops.supervisor.kick();
    bus.emit('actionsChanged');
  });
  bus.on('eventsWritten', () => loops.observer.hint());
  bus.on('hostsTouched', () => loops.desired.hint());
  bus.on('actionFileAdded', (state) => {
    loops.supervisor.hint();
    if (state === 'approved') loops.executor.hint();
  });
  return loops;
}

/** The bot, when Telegram is configured; it follows every action change. */
function buildTelegram(config: Config, l: Layout, p: Parts, loops: Record<LoopName, Runner>, bus: Bus, log: Logger, clock: Clock): TelegramBot | undefined {
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

/** The web page and API. */
function buildApi(config: Config, l: Layout, p: Parts, loops: Record<LoopName, Runner>, telegram: TelegramBot | undefined, bus: Bus, log: Logger, clock: Clock): ReturnType<typeof buildServer> {
  // What the read-only routes show changes only on these signals: their bodies are built once per change.
  let generation = 0;
  for (const signal of ['worldPublished', 'actionsChanged', 'updatesChanged', 'desiredChanged'] as const) bus.on(signal, () => void generation++);
  return buildServer({
    generation: () => generation,
    clock,
    layout: l,
    actions: p.actions,
    evidence: (id, instance) => p.evidence.get(id, instance),
    log: log.child({ component: 'api' }),
    now: p.status.now,
    // Shared by the representation cache: one computation per change (and second) for every client.
    summary: () => currentSummary(p.status),
    runners: () => Object.values(loops).map((r) => r.status),
    exposition: p.exposition,
    metrics: async () => ({
      version: VERSION,
      observer: p.observer.counters(),
      services: p.observer.current().services,
      nodes: p.observer.current().nodes,
      missing: currentMissing(p.observer.current(), p.desired.current()),
      telegram: telegram ? { ...telegram.outbox.stats, queued: telegram.outbox.pending().length } : undefined,
      executor: p.executor.stats,
      notices_open: (await p.supervisorState.notices()).filter((n) => n.state === 'open').length,
    }),
    ingestTokens: config.ingestTokens,
    aliases: config.aliases,
    agentsRunning: () => nodesWithAgentsRunning(p.observer.current()),
    storage: () => storageStatus(l.root),
    ...(telegram ? { telegram: () => telegram.outbox.health } : {}),
  });
}

/** Services services.yaml asks to watch that world state has never heard of. */
function currentMissing(world: { services: Record<string, unknown> }, desired: ReturnType<DesiredStore['current']>): number {
  let n = 0;
  for (const dn of Object.values(desired)) for (const s of Object.values(dn.services)) if (s.monitor && !world.services[`${dn.node}/${s.service}`]) n++;
  return n;
}

export function reportDesiredProblems(log: Logger, problems: readonly DesiredProblem[], inForce: Readonly<Record<string, unknown>>): void {
  for (const p of problems) {
    const what = inForce[p.node] ? 'the last good version stays in force' : `${p.node} is left out until the file is fixed`;
    log.error({ file: p.file, line: p.line, col: p.col, reason: p.reason }, `desired state: ${problemWhere(p)}: ${p.reason} (${what})`);
  }
}
