// The parts of a running control plane, built one way for `run` and for the commands that need
// the same stores: desired state, the stores, observer, supervisor, executor, inspector, updates.
import { SummaryTally } from '../domain/summary-tally.js';
import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { Observer } from '../loops/observer.js';
import type { Clock } from '../time/clock.js';
import { DEFAULT_PLAN_CONFIG } from '../domain/cooldowns.js';
import { Supervisor } from '../loops/supervisor.js';
import { Executor } from '../loops/executor.js';
import { EngineClients, engineOptionsOf } from '../docker/engine.js';
import { remoteTargetWarnings } from '../docker/target-warnings.js';
import { Inspector } from '../loops/inspector.js';
import { EvidenceStore } from '../store/evidence.js';
import type { StatusSources } from '../status.js';
import { Metrics } from '../api/metrics.js';
import { ActionStore } from '../store/actions.js';
import { SupervisorState } from '../store/supervisor-state.js';
import { DesiredStore, problemWhere, type DesiredProblem } from '../store/desired.js';
import type { Layout } from '../store/paths.js';
import type { Bus } from './bus.js';
import { UpdatesStore } from '../store/updates.js';
import { RegistryClient, registryAuth, type RegistryAuth } from '../docker/registry.js';
import { UpdateChecker } from '../loops/updates.js';
import type { DesiredState } from '../domain/schemas.js';

export type Parts = Awaited<ReturnType<typeof buildParts>>;

/** Desired state, the stores, the observer, supervisor and executor, with crash recovery done. */
export async function buildParts(config: Config, l: Layout, log: Logger, clock: Clock, bus: Bus) {
  const now = () => clock.now();
  const desired = new DesiredStore(config.hostsDir);
  const first = await desired.reload();
  reportDesiredProblems(log, first.problems, desired.current());
  for (const w of remoteTargetWarnings(desired.current(), engineOptionsOf(config))) log.warn({ node: w.node }, w.message);
  const observer = buildObserver(config, l, log.child({ component: 'observer' }), clock, () => desired.current());
  await observer.init();
  const { actions, supervisorState, evidence, updates } = openStores(l, clock);
  await actions.ensureDirs();
  for (const line of await actions.recover()) log.warn({ component: 'actions' }, line);
  await supervisorState.ensureDirs();
  const auth = registryAuth(config.updates.dockerConfig);
  // One client per engine target for every part that talks to engines.
  const engines = new EngineClients(engineOptionsOf(config));
  const checker = buildUpdateChecker(config, auth, updates, () => desired.current(), log.child({ component: 'updates' }), clock, () => bus.emit('updatesChanged'), engines);
  const inspector = buildInspector(config, {
    engines,
    desired: () => desired.current(),
    world: () => observer.current(),
    evidence,
    log: log.child({ component: 'inspector' }),
    clock,
    onStored: () => bus.emit('actionsChanged'),
  });
  const supervisor = new Supervisor({
    actions,
    state: supervisorState,
    log: log.child({ component: 'supervisor' }),
    now,
    worldChanges: observer.renderer,
    world: () => observer.current(),
    desired: () => desired.current(),
    desiredProblems: () => desired.problems(),
    monotonic: () => clock.monotonic(),
    planConfig: { ...DEFAULT_PLAN_CONFIG, missingGraceS: config.missingGraceS, verifyAfterS: config.verifyAfterS },
    onActionChanged: () => bus.emit('actionsChanged'),
    onActionCreated: (a) => inspector.collect(a),
    updates: () => updates.updates(),
    skips: () => updates.skips(),
    factsOf: (id, instance) => evidence.facts(id, instance),
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
    engineOptions: engines.options,
    engines,
    onChange: () => bus.emit('actionsChanged'),
    interruptedFile: l.interrupted,
    onDuration: (type, seconds) => exposition.observeAction(type, seconds),
    registryCredentials: (domain) => auth.credentials.get(domain),
    onRolledBack: async (a, digests) => {
      for (const digest of digests) await updates.skip(`${a.node}/${a.service}`, { digest, at: new Date(now()).toISOString(), reason: 'rolled_back', by: 'executor' });
      bus.emit('updatesChanged');
    },
    onImageUpdated: (a) => void checker.check(`${a.node}/${a.service}`).catch((err) => log.warn({ err, id: a.id }, 'checking the updated service again failed')),
    evidenceFirst: (a) => inspector.collected(a),
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
    tally: new SummaryTally(),
    changes: observer.renderer,
  };
  return { desired, observer, actions, supervisorState, supervisor, executor, exposition, status, evidence, inspector, updates, checker };
}

/** The stores on a data directory, opened one way for `run` and for every command. */
export function openStores(l: Layout, clock: Clock) {
  return {
    actions: new ActionStore(l.actions, () => clock.now()),
    supervisorState: new SupervisorState(l.state),
    evidence: new EvidenceStore(path.join(l.actions, 'evidence')),
    updates: new UpdatesStore(l),
  };
}

/** The observer of a data directory (`run`, and `replay`/`observe --once` offline). */
export function buildObserver(config: Config, l: Layout, log: Logger, clock: Clock, desired: () => DesiredState): Observer {
  return new Observer({ layout: l, config, log, now: () => clock.now(), desired, clock });
}

/** The inspector (evidence and log tails; `run` and `control-plane logs`). */
export function buildInspector(config: Config, deps: Omit<ConstructorParameters<typeof Inspector>[0], 'engineOptions' | 'tailLines'> & { tailLines?: number }): Inspector {
  return new Inspector({ ...deps, engineOptions: engineOptionsOf(config), tailLines: deps.tailLines ?? config.logTailLines });
}

/** The registry client and the update checker (docs/design/updates.md; `run` and `updates check`). */
export function buildUpdateChecker(config: Config, auth: RegistryAuth, updates: UpdatesStore, desired: () => DesiredState, log: Logger, clock: Clock, onChecked?: () => void, engines?: EngineClients): UpdateChecker {
  const registry = new RegistryClient({ insecure: config.updates.insecure, credentials: new Map(auth.credentials), clock });
  for (const what of auth.unsupported) log.warn(`${config.updates.dockerConfig}/config.json: ${what} is not supported (credential helpers are programs of their own); registries needing it are checked anonymously`);
  return new UpdateChecker({
    desired,
    store: updates,
    registry,
    engineOptions: engineOptionsOf(config),
    ...(engines ? { engines } : {}),
    log,
    clock,
    intervalMs: config.updates.intervalMs,
    ...(onChecked ? { onChecked } : {}),
  });
}

export function reportDesiredProblems(log: Logger, problems: readonly DesiredProblem[], inForce: Readonly<Record<string, unknown>>): void {
  for (const p of problems) {
    const what = inForce[p.node] ? 'the last good version stays in force' : `${p.node} is left out until the file is fixed`;
    log.error({ file: p.file, line: p.line, col: p.col, reason: p.reason }, `desired state: ${problemWhere(p)}: ${p.reason} (${what})`);
  }
}
