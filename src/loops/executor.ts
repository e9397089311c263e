// The executor: claims approved actions into running/, carries them out on the node's Docker
// Engine with a deadline, finishes them in completed/ or failed/, then verifies the service.
import type Docker from 'dockerode';
import type { Action, ActionResult } from '../domain/actions.js';
import type { DesiredState, World } from '../domain/schemas.js';
import { EngineClients, engineError, hasSshCredentials, sshCredentialsHint, type DockerTarget, type EngineOptions } from '../docker/engine.js';
import type { OpContext } from '../docker/ops.js';
import type { Credentials } from '../docker/registry.js';
import type { Logger } from '../log.js';
import { TransitionError, type ActionBackend } from '../store/action-backend.js';
import type { DocStore } from '../store/doc-store.js';
import { DeadlineError, OperationError, RefusedError, RolledBackError } from '../errors.js';
import { InterruptedOps } from './interrupted-ops.js';
import { completedWith, runOperation, scopeOf } from './operations.js';
import { realClock, type Clock } from '../time/clock.js';
import { Verifications } from './verification.js';

export interface ExecutorDeps {
  actions: ActionBackend;
  desired: () => DesiredState;
  world: () => World;
  log: Logger;
  now: () => number;
  actionTimeoutS: number;
  verifyAfterS: number;
  engineOptions?: EngineOptions;
  /** How long a container must stay up to count as started (ms; default 1 s). */
  settleMs?: number;
  /** For tests: how a node's engine is reached. */
  engine?: (target: DockerTarget) => Docker;
  /** The engine clients shared with the update checker and the inspector (default: its own). */
  engines?: EngineClients;
  /** Called after each state change this executor makes (the bot edits its messages). */
  onChange?: (a: Action) => void;
  /**
   * Where redeploys interrupted by a shutdown are remembered until their containers are put
   * right at the next start (state/interrupted-redeploys.json). Without it, only in memory.
   */
  interruptedFile?: string;
  /** With NATS_URL: that record in HOMELAB_STATE, so a new leader puts right what the dead one left. */
  interruptedDocs?: DocStore;
  /** Timers: the action deadline and the shutdown grace (default: the real clock). */
  clock?: Clock;
  /** Told how long each finished action took (the /metrics histogram). */
  onDuration?: (type: string, seconds: number) => void;
  /** Registry credentials for an image update's pull, by registry domain (DOCKER_CONFIG). */
  registryCredentials?: (domain: string) => Credentials | undefined;
  /** An image update was rolled back: its digests are not to be proposed again. */
  onRolledBack?: (a: Action, digests: readonly string[]) => Promise<void> | void;
  /** An image update completed: its service is checked again. */
  onImageUpdated?: (a: Action) => void;
  /** Awaited before an action's operation: its evidence is collected first (bounded by the caller). */
  evidenceFirst?: (a: Action) => Promise<void>;
  /** With a leader lease (NATS): claims only while `leading()`, each recording the epoch. */
  leader?: { leading(): boolean; readonly epoch: number };
}

/** How often a stop that waits for an action says so. */
const STOP_REPORT_MS = 2000;

/** How long a stop whose grace ran out waits for a claim still landing (a rename and an fsync). */
const CLAIM_WAIT_MS = 1000;

/** An action under way and the steps it has done, for the record if it is interrupted. */
interface UnderWay {
  action: Action;
  steps: string[];
  done: Promise<void>;
}

/** What a stop waits for, for the action's message: "stopping: waiting for …". */
export interface StoppingInfo {
  /** The step under way, in words. */
  waitingFor: string;
  graceS: number;
  /** When the stop began (epoch ms). */
  since: number;
}

export class Executor {
  /** node → the operation under way there: at most one Docker operation per node at a time. */
  private busy = new Map<string, Promise<void>>();
  private claiming = new Set<Promise<Action>>();
  private underWay = new Map<string, UnderWay>();
  /** Actions recorded as interrupted at shutdown: their operation must not record anything after. */
  private abandoned = new Set<string>();
  private stopping = false;
  private stopInfo: { since: number; graceS: number } | undefined;
  /** The stop found an action under way (or being claimed) and waited for it. */
  waitedAtStop = false;
  /** Set when SHUTDOWN_GRACE_S ran out: a claim landing after that is recorded, not carried out. */
  private graceOut: { graceS: number } | undefined;
  private lateRecords = new Set<Promise<void>>();
  readonly stats = { started: 0, completed: 0, failed: 0, refused: 0, dockerCalls: 0 };

  private timed(type: string, ms: number): void {
    this.deps.onDuration?.(type, ms / 1000);
  }

  private readonly clock: Clock;
  private readonly clients: EngineClients;
  private readonly verifications: Verifications;
  private readonly interrupted: InterruptedOps;

  constructor(private readonly deps: ExecutorDeps) {
    this.clock = deps.clock ?? realClock;
    this.clients = deps.engines ?? new EngineClients(deps.engineOptions, deps.engine);
    this.verifications = new Verifications(deps);
    this.interrupted = new InterruptedOps(deps, (target) => this.engine(target));
  }

  /**
   * At start: actions left in running/ were interrupted; they fail and are never re-run on their
   * own. Completed actions still inside their verification window are watched again.
   */
  /**
   * At start: what a restart interrupted is recorded, verifications are resumed. Runs once; a pass
   * before it (the actions in NATS KV, not read yet at start) runs it first, and one that failed is
   * tried again by the next pass.
   */
  init(): Promise<void> {
    this.initialized ??= this.initNow().catch((err: unknown) => {
      this.initialized = undefined;
      throw err;
    });
    return this.initialized;
  }

  private initialized: Promise<void> | undefined;

  private async initNow(): Promise<void> {
    const { actions, log } = this.deps;
    await this.interrupted.load();
    let remember = false;
    for (const a of await actions.list('running')) {
      try {
        const done = await this.finish(a, 'failed', { error: 'interrupted' }, 'found in running/ at start');
        log.warn({ id: a.id, instance: a.instance }, `${a.id} was interrupted by a restart; marked failed, not re-run`);
        this.deps.onChange?.(done);
        this.interrupted.remember(a);
        remember ||= a.type === 'redeploy' || a.type === 'image_update';
      } catch (err) {
        if (!(err instanceof TransitionError)) throw err;
      }
    }
    await this.interrupted.settle(remember);
    await this.verifications.resume();
    await this.checkVerifications();
  }

  /** Moves a running action to its end state (the only way the executor finishes one). */
  private finish(a: Action, to: 'completed' | 'failed', patch: Partial<Action>, note?: string): Promise<Action> {
    return this.deps.actions.transition({
      id: a.id,
      from: 'running',
      to,
      instance: a.instance,
      by: 'executor',
      patch: { finished_at: new Date(this.deps.now()).toISOString(), ...patch },
      ...(note ? { note } : {}),
    });
  }

  /** What a stop waits for on this action, while a stop waits (for its message). */
  stoppingFor(a: Pick<Action, 'id' | 'instance'>): StoppingInfo | undefined {
    const w = this.underWay.get(`${a.id}@${a.instance}`);
    if (!w || !this.stopInfo) return undefined;
    return { waitingFor: this.stepUnderWay(w), graceS: this.stopInfo.graceS, since: this.stopInfo.since };
  }

  private stepUnderWay(w: UnderWay): string {
    const last = w.steps.at(-1);
    return last ? `the step after "${last}"` : `the first Docker step of ${w.action.type}`;
  }

  /**
   * Stops taking new actions and gives the ones under way `graceMs` to finish (or roll back).
   * What is still running then is recorded failed, "interrupted", with the steps it had done; a
   * redeploy among them is remembered so that its containers are put right at the next start.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const since = this.deps.now();
    this.stopInfo = { since, graceS: Math.round(graceMs / 1000) };
    this.waitedAtStop = this.underWay.size > 0 || this.claiming.size > 0;
    let cancelGrace: (() => void) | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      cancelGrace = this.clock.timer(graceMs, () => resolve('timeout'));
    });
    // Say what the stop waits for, at once and every 2 s; the messages of those actions say it too.
    let cancelReport: (() => void) | undefined;
    const report = () => {
      if (this.underWay.size === 0 && this.claiming.size === 0) return;
      const waiting = [...this.underWay.values()].map((w) => `${w.action.id} (${w.action.type} on ${w.action.node}: ${this.stepUnderWay(w)})`);
      const s = Math.round((this.deps.now() - since) / 1000);
      this.deps.log.warn({ waiting: [...this.underWay.keys()], elapsed_s: s, grace_s: this.stopInfo!.graceS }, `stopping: waiting for ${waiting.join(', ') || 'an action being claimed'}, ${s} s of SHUTDOWN_GRACE_S ${this.stopInfo!.graceS} s`);
      cancelReport = this.clock.timer(STOP_REPORT_MS, report);
    };
    report();
    for (const w of this.underWay.values()) this.deps.onChange?.(w.action);
    // Only actions are waited for: a recovery check of an engine that does not answer is not.
    const actionsDone = (async () => {
      await Promise.allSettled([...this.claiming]);
      while (this.underWay.size > 0) await Promise.allSettled([...this.underWay.values()].map((w) => w.done));
    })();
    const outcome = await Promise.race([actionsDone.then(() => 'idle' as const), graceOver]);
    cancelGrace?.();
    cancelReport?.();
    if (outcome === 'idle') return;
    this.graceOut = { graceS: Math.round(graceMs / 1000) };
    // A claim still landing (a rename and an fsync) gets a moment, so its action is recorded
    // with the others instead of staying in running/ until the next start.
    let cancelWait: (() => void) | undefined;
    await Promise.race([Promise.allSettled([...this.claiming]), new Promise<void>((resolve) => (cancelWait = this.clock.timer(CLAIM_WAIT_MS, resolve)))]);
    cancelWait?.();
    await Promise.allSettled([...this.lateRecords]);
    for (const [key, w] of this.underWay) await this.recordInterrupted(key, w.action, w.steps);
    await this.interrupted.save();
  }

  /** Records an action under way when the grace ran out as failed, "interrupted", with its steps. */
  private async recordInterrupted(key: string, a: Action, stepsDone: string[]): Promise<void> {
    if (this.abandoned.has(key)) return;
    this.abandoned.add(key);
    const steps = stepsDone.length ? stepsDone.join('; ') : 'no step finished';
    const error = `interrupted: the control plane stopped and SHUTDOWN_GRACE_S (${this.graceOut!.graceS} s) ran out; done so far: ${steps}`;
    try {
      const done = await this.finish(a, 'failed', { error, result: { steps_done: stepsDone } }, 'shutdown grace ran out');
      this.stats.failed++;
      this.deps.log.error({ id: a.id, instance: a.instance }, `${a.id} ${error}`);
      this.deps.onChange?.(done);
    } catch (err) {
      if (!(err instanceof TransitionError)) throw err;
    }
    this.interrupted.interruptedAtStop(key, a);
  }

  /** Starts every approved action whose node is free. Does not wait for them. */
  async pass(): Promise<void> {
    const { actions, log } = this.deps;
    if (this.stopping) return;
    await this.init();
    this.interrupted.recover(this.busy);
    // A file moved into approved/ by hand still says "pending" inside: the store adopts it first
    // (recording the approval by file), so it runs in this pass instead of waiting for another.
    for (const line of await actions.adoptMoved(['approved'])) log.info(line);
    for (const a of await actions.list('approved')) {
      if (a.state !== 'approved' || this.busy.has(a.node)) continue;
      const run = this.execute(a)
        .catch((err) => this.deps.log.error({ err, id: a.id }, `executing ${a.id} failed unexpectedly`))
        .finally(() => this.busy.delete(a.node));
      this.busy.set(a.node, run);
    }
    await this.checkVerifications();
  }

  /** Waits for every operation under way (for shutdown and tests). */
  async idle(): Promise<void> {
    while (this.busy.size > 0) await Promise.allSettled([...this.busy.values()]);
  }

  private engine(target: DockerTarget): Docker {
    return this.clients.get(target);
  }

  private async execute(approved: Action): Promise<void> {
    const { actions, now } = this.deps;
    if (this.stopping) return;
    // What the inspector reads must be the failure, not our repair (an action approved by policy
    // is here a moment after it was proposed).
    await this.deps.evidenceFirst?.(approved).catch(() => {});
    if (this.stopping) return;
    // With a leader lease: claimed only while this process surely leads (fencing by time).
    const leader = this.deps.leader;
    if (leader && !leader.leading()) return;
    let a: Action;
    // A claim under way is waited for at stop: once it lands the action is under way (or not).
    const claim = actions.transition({
      id: approved.id,
      from: 'approved',
      to: 'running',
      instance: approved.instance,
      by: 'executor',
      patch: { started_at: new Date(now()).toISOString(), ...(leader ? { epoch: leader.epoch } : {}) },
    });
    this.claiming.add(claim);
    try {
      a = await claim;
    } catch (err) {
      if (err instanceof TransitionError) return; // another executor (or a hand) got it first
      throw err;
    } finally {
      this.claiming.delete(claim);
    }
    this.stats.started++;
    this.deps.onChange?.(a);
    const key = `${a.id}@${a.instance}`;
    const steps: string[] = [];
    if (this.graceOut) {
      // Claimed as the grace ran out: nothing is started any more; the stop waits for the record.
      const record = this.recordInterrupted(key, a, steps);
      this.lateRecords.add(record);
      return record;
    }
    const done = this.carryOut(a, key, steps);
    this.underWay.set(key, { action: a, steps, done: done.catch(() => {}) });
    try {
      await done;
    } finally {
      this.underWay.delete(key);
    }
  }

  private async carryOut(a: Action, key: string, steps: string[]): Promise<void> {
    const { log, now } = this.deps;
    const started = now();
    const fail = async (error: string, result?: ActionResult, extra: Partial<Action> = {}) => {
      if (this.abandoned.has(key)) return; // recorded as interrupted at shutdown already
      this.stats.failed++;
      this.timed(a.type, now() - started);
      const done = await this.finish(a, 'failed', { error, ...(result !== undefined ? { result } : {}), ...extra });
      log.error({ id: a.id, instance: a.instance, error }, `${a.id} failed: ${error}`);
      this.deps.onChange?.(done);
    };

    const scope = scopeOf(a, this.deps.desired());
    if (typeof scope === 'string') {
      this.stats.refused++;
      return fail(scope);
    }
    const { node, containers } = scope;

    // An ssh:// target without a key or an agent can only fail, after a network round trip and
    // with a misleading message: say what to configure instead.
    if (node.docker.url?.startsWith('ssh://') && !hasSshCredentials(this.deps.engineOptions ?? {})) {
      return fail(`cannot reach ${a.node}'s Docker Engine: ${sshCredentialsHint(node.docker.url)}`);
    }
    const timeoutS = this.deps.actionTimeoutS;
    const ctx: OpContext = {
      docker: this.engine(node.docker),
      deadline: started + timeoutS * 1000,
      now,
      step: (done) => steps.push(done),
      ranBefore: async (names) => {
        if (names.length === 0 || this.abandoned.has(key)) return;
        await this.interrupted.restartBegins(key, a, names);
      },
      clock: this.clock,
      ...(this.deps.settleMs !== undefined ? { settleMs: this.deps.settleMs } : {}),
    };
    let cancelDeadline: (() => void) | undefined;
    const op = runOperation(a, { ...ctx, containers, verifyAfterS: this.deps.verifyAfterS, world: this.deps.world, containersOf: (svc) => node.services[svc]?.containers ?? [svc], ...(node.docker.prune_label ? { pruneLabel: node.docker.prune_label } : {}), ...(this.deps.registryCredentials ? { credentials: this.deps.registryCredentials } : {}) });
    this.stats.dockerCalls++;
    // An image update watches its new containers through VERIFY_AFTER_S before it ends.
    const verifyMs = a.type === 'image_update' ? this.deps.verifyAfterS * 1000 : 0;
    // The deadline holds even when the engine hangs (an SSH connection that never answers).
    const deadline = new Promise<never>((_, reject) => {
      cancelDeadline = this.clock.timer(timeoutS * 1000 + 1000 + verifyMs, () => reject(new DeadlineError(`timed out after ${timeoutS} s (ACTION_TIMEOUT_S); check ${a.node}'s Docker Engine`, timeoutS)));
    });
    try {
      const result = await Promise.race([op, deadline]);
      if (this.abandoned.has(key)) return;
      const finishedAt = now();
      const verify = a.type !== 'disk_cleanup' && a.type !== 'image_update';
      const done = await this.finish(a, 'completed', {
        finished_at: new Date(finishedAt).toISOString(),
        ...completedWith(result, finishedAt),
        ...(verify ? { verify_until: new Date(finishedAt + this.deps.verifyAfterS * 1000).toISOString() } : {}),
      });
      this.stats.completed++;
      this.timed(a.type, finishedAt - started);
      log.info({ id: a.id, instance: a.instance, ms: finishedAt - started }, `${a.id} completed`);
      this.deps.onChange?.(done);
      if (a.type === 'image_update') this.deps.onImageUpdated?.(done);
      if (verify) {
        this.verifications.watch({ action: done, startedAt: started, finishedAt, until: finishedAt + this.deps.verifyAfterS * 1000 });
        await this.checkVerifications();
      }
    } catch (err) {
      // Our own errors already say what happened; what the engine threw is explained.
      const known = err instanceof DeadlineError || err instanceof RefusedError || err instanceof OperationError;
      if (err instanceof RolledBackError) {
        // Recorded before the action ends, so the next pass never proposes the same digest again.
        await Promise.resolve(this.deps.onRolledBack?.(a, err.digests)).catch((e) => log.error({ err: e, id: a.id }, 'remembering the rolled-back digest failed'));
      }
      await fail(known ? err.message : engineError(err, node.docker, a.node).message, undefined, err instanceof RolledBackError ? { rolled_back: true } : {});
      // Keep the node busy until the engine call really ends: never two operations at once.
      await op.catch(() => {});
    } finally {
      cancelDeadline?.();
      await this.interrupted.ended(key);
    }
  }

  /** Records for each completed restart or redeploy whether the service reported healthy again (verification.ts). */
  checkVerifications(): Promise<void> {
    return this.verifications.check();
  }
}
