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
import { EvidenceStore, type SharedEvidence } from '../store/evidence.js';
import type { StatusSources } from '../status.js';
import { Metrics } from '../api/metrics.js';
import { ActionStore } from '../store/actions.js';
import type { ActionBackend } from '../store/action-backend.js';
import type { KvActionStore } from '../nats/actions-kv.js';
import type { Lease } from '../nats/lease.js';
import type { DocStore } from '../store/doc-store.js';
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
export async function buildParts(config: Config, l: Layout, log: Logger, clock: Clock, bus: Bus, nats?: { actions: KvActionStore; leader: Lease; docs: DocStore; evidence: SharedEvidence }) {
  const now = () => clock.now();
  const desired = await openDesired(config, log);
  const observer = buildObserver(config, l, log.child({ component: 'observer' }), clock, () => desired.current());
  await observer.init();
  const { actions, supervisorState, evidence, updates } = openStores(l, clock, nats);
  await prepareActions(actions, nats?.actions, l, clock, bus, log);
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
    ...(nats ? { interruptedDocs: nats.docs } : {}),
    onDuration: (type, seconds) => exposition.observeAction(type, seconds),
    registryCredentials: (domain) => auth.credentials.get(domain),
    onRolledBack: async (a, digests) => {
      for (const digest of digests) await updates.skip(`${a.node}/${a.service}`, { digest, at: new Date(now()).toISOString(), reason: 'rolled_back', by: 'executor' });
      bus.emit('updatesChanged');
    },
    onImageUpdated: (a) => void checker.check(`${a.node}/${a.service}`).catch((err) => log.warn({ err, id: a.id }, 'checking the updated service again failed')),
    evidenceFirst: (a) => inspector.collected(a),
    ...(nats ? { leader: nats.leader } : {}),
    clock,
  });
  // With the actions in NATS KV, the first pass does it once the bucket is read (Executor.init).
  if (actions instanceof ActionStore) await executor.init();
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

/** hosts/ read at start: its problems and its remote engines' warnings said once. */
async function openDesired(config: Config, log: Logger): Promise<DesiredStore> {
  const desired = new DesiredStore(config.hostsDir);
  const first = await desired.reload();
  reportDesiredProblems(log, first.problems, desired.current());
  for (const w of remoteTargetWarnings(desired.current(), engineOptionsOf(config))) log.warn({ node: w.node }, w.message);
  return desired;
}

/** The stores on a data directory, opened one way for `run` and for every command (the actions and the state documents in KV with NATS_URL). */
export function openStores(l: Layout, clock: Clock, nats?: { actions: KvActionStore; docs: DocStore; evidence: SharedEvidence }) {
  return {
    actions: (nats?.actions ?? new ActionStore(l.actions, () => clock.now())) as ActionBackend,
    supervisorState: new SupervisorState(l.state, nats?.docs),
    evidence: new EvidenceStore(path.join(l.actions, 'evidence'), nats?.evidence),
    updates: new UpdatesStore(l, nats?.docs),
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

/**
 * The files: their directories made and what a crash left finished. NATS KV: the bucket is read
 * (and recovered) once the link is up; open actions left in the files are said, and another
 * process's change (an approval by the CLI) wakes the loops as a file's does.
 */
async function prepareActions(actions: ActionBackend, kv: KvActionStore | undefined, l: Layout, clock: Clock, bus: Bus, log: Logger): Promise<void> {
  if (actions instanceof ActionStore) {
    await actions.ensureDirs();
    for (const line of await actions.recover()) log.warn({ component: 'actions' }, line);
    return;
  }
  await warnFileActions(l, clock, log);
  kv?.onChange((a) => {
    bus.emit('actionsChanged');
    if (a) bus.emit('actionFileAdded', a.state);
  });
}

/** Open actions left in the files when the actions moved to NATS KV: said, with how to bring them over. */
async function warnFileActions(l: Layout, clock: Clock, log: Logger): Promise<void> {
  const open = await new ActionStore(l.actions, () => clock.now()).listOpen().catch(() => []);
  if (open.length === 0) return;
  log.warn({ component: 'actions', open: open.length }, `${open.length} open action(s) are in ${l.actions} and not in NATS KV, where the actions are with NATS_URL set; control-plane nats import brings them over`);
}
