// The supervisor: compares desired state with world state and keeps the pending actions right.
// All decisions are made by plan() (pure); this file reads its inputs and applies its result.
import { parseFileName, type Action } from '../domain/actions.js';
import { desiredSince, type Plan } from '../domain/plan.js';
import { IncrementalPlanner } from '../domain/plan-incremental.js';
import type { WorldChanges } from '../domain/world-render.js';
import { DEFAULT_PLAN_CONFIG, ownWindows, updateCooldowns, type OwnWindow, type PlanConfig } from '../domain/cooldowns.js';
import { reviewRemovals } from '../domain/removals.js';
import { DEFAULT_HEAL, type DesiredState, type World } from '../domain/schemas.js';
import { updateHealBudgets, type HealBudgets } from '../domain/heal-budget.js';
import { maintenanceOf, maintenanceSummary } from '../domain/maintenance.js';
import type { Silence } from '../domain/silences.js';
import type { Logger } from '../log.js';
import { TransitionError, type ActionBackend } from '../store/action-backend.js';
import type { DesiredProblem } from '../store/desired.js';
import type { SupervisorState } from '../store/supervisor-state.js';
import type { Skips, Updates } from '../store/updates.js';

export interface SupervisorDeps {
  actions: ActionBackend;
  state: SupervisorState;
  log: Logger;
  now: () => number;
  /** The clock that never steps (Clock.monotonic): a step of the wall clock is told from it. */
  monotonic?: () => number;
  world: () => World;
  /** The renderer of that world (the observer's): the planner compares only the nodes it changed. */
  worldChanges?: WorldChanges;
  desired: () => DesiredState;
  desiredProblems: () => readonly DesiredProblem[];
  planConfig?: PlanConfig;
  /** Called with each action this pass wrote: proposed, or approved by policy (auto_approve). */
  onActionChanged?: (a: Action) => void;
  /** Called with each action this pass proposed (the inspector collects its evidence). */
  onActionCreated?: (a: Action) => void;
  /** What the update checks found (world/updates.json). */
  updates?: () => Updates;
  /** Digests skipped or rolled back, not to propose again. */
  skips?: () => Skips;
  /** What the inspector found before an action (its evidence, in facts), for the heal budget's record. */
  factsOf?: (id: string, instance: string) => Promise<string[] | undefined>;
}

export interface SupervisorPass {
  created: Action[];
  cancelled: { id: string; reason: string }[];
  /** Proposals left to the next pass: an instance of theirs finished while this one planned. */
  deferred: string[];
  notices: { opened: string[]; updated: string[]; closed: string[] };
  held: Record<string, string[]>;
  plan: Plan;
}

/** Outcomes that start a cooldown (cancelled only when an operator cancelled: updateCooldowns). */
const TERMINAL_COUNTED = ['completed', 'failed', 'rejected', 'cancelled'] as const;

export class Supervisor {
  /** Terminal files already counted for cooldowns (names only: their content never changes). */
  private counted = new Set<string>();
  /** Finished actions that acted on a service recently: their windows are not flapping. */
  private recent: Action[] = [];
  /** Plans again only the nodes whose inputs changed or whose timers fell due (plan-incremental.ts). */
  private readonly planner = new IncrementalPlanner();

  constructor(private readonly deps: SupervisorDeps) {}

  /** The earliest time at which the clock alone changes the plan (a grace, a backoff, a window's end…): the next pass is due then. */
  get nextDue(): number {
    return this.planner.nextDue;
  }

  async pass(): Promise<SupervisorPass> {
    const { actions, state, log, now: clock } = this.deps;
    const now = clock();
    const jumpedAt = this.wallClockStep(now);
    const desired = this.deps.desired();
    const world = this.deps.world();

    for (const line of await actions.adoptMoved()) log.info(line);

    const review = await this.reviewRemovals(desired);

    // Open actions are read before finished ones: an action that finishes in between is then
    // either still open here or counted for its cooldown below, never proposed again at once.
    const open = await actions.listOpenOrMoving();

    // Cooldowns from finished actions not counted yet.
    const finished = await this.newlyFinished();
    const own = this.ownWindows(open, finished, now);
    const since = await this.desiredSince(desired, now);
    const prevCooldowns = await state.cooldowns();
    const cooldowns = updateCooldowns(prevCooldowns, finished, world, now, this.deps.planConfig);
    if (JSON.stringify(cooldowns) !== JSON.stringify(prevCooldowns)) await state.saveCooldowns(cooldowns);

    const heals = await this.healBudgets(finished, world, desired, now);
    const silences = await this.liftRecovered(await state.activeSilences(now), world, now);
    const maintenance = await state.maintenanceWindows.active(now);
    const p = this.planner.plan({
      desired,
      world,
      open,
      cooldowns,
      silences,
      held: review.held,
      desiredProblems: this.deps.desiredProblems(),
      now,
      cfg: this.deps.planConfig,
      ...(this.deps.updates ? { updates: this.deps.updates() } : {}),
      ...(this.deps.skips ? { skips: this.deps.skips() } : {}),
      own,
      desiredSince: since,
      heals,
      maintenance,
      ...(jumpedAt !== undefined ? { clockSteppedAt: jumpedAt, openNotices: new Set((await state.notices()).filter((n) => n.state === 'open').map((n) => n.key)) } : {}),
    }, this.deps.worldChanges);

    const cancelled = await this.cancel(p.cancel);
    const created: Action[] = [];
    const deferred: string[] = [];
    const stale = p.create.length > 0 ? await this.finishedSinceRead() : new Set<string>();
    for (const draft of p.create) {
      if (stale.has(draft.id)) {
        // Planned without an outcome that landed meanwhile (its cooldown, its budget): the next
        // pass plans with it.
        log.info({ id: draft.id }, `${draft.id} not proposed: an instance of it finished while this pass planned; the next pass decides`);
        deferred.push(draft.id);
        continue;
      }
      const a = await actions.create(draft);
      if (!a) continue;
      created.push(a);
      log.info({ id: a.id, instance: a.instance, type: a.type, risk: a.risk, trigger: a.trigger }, `proposed ${a.id}`);
      this.deps.onActionChanged?.(a);
      this.deps.onActionCreated?.(a);
    }
    const cancelledIds = new Set(cancelled.map((c) => c.id));
    await this.autoApprove(desired, [...open.filter((a) => a.state === 'pending' && !cancelledIds.has(a.id)), ...created], maintenance, now);
    const notices = await state.reconcileNotices(p.notices, now);
    await this.maintenanceEnded(notices.closed, world, desired, now);
    for (const key of notices.opened) log.warn({ notice: key, message: p.notices.find((n) => n.key === key)?.message }, `notice opened: ${key}`);
    for (const key of notices.closed) log.info({ notice: key }, `notice closed: ${key}`);
    return { created, cancelled, deferred, notices, held: review.held, plan: p };
  }

  /** Bulk removals wait for a confirmation: what is held, with the confirmations given applied. */
  private async reviewRemovals(desired: DesiredState): Promise<ReturnType<typeof reviewRemovals>> {
    const { state, log } = this.deps;
    const confirmations = await state.pendingConfirmations();
    // The same desired state and nothing confirmed: the same review (only this loop writes what
    // was accepted), not the list of every watched service read and compared at every pass.
    if (confirmations.length === 0 && this.review?.desired === desired) return this.review.result;
    const accepted = await state.accepted();
    const review = reviewRemovals(accepted, desired, confirmations);
    if (JSON.stringify(review.accepted) !== JSON.stringify(accepted)) await state.saveAccepted(review.accepted);
    for (const node of confirmations) {
      await state.clearConfirmation(node);
      log.info({ node }, 'bulk removal confirmed by an operator');
    }
    this.review = { desired, result: review };
    return review;
  }
  private review: { desired: DesiredState; result: ReturnType<typeof reviewRemovals> } | undefined;

  /** The plan's cancellations; one that lost a race (an approval, a rejection first) is left alone. */
  private async cancel(list: Plan['cancel']): Promise<SupervisorPass['cancelled']> {
    const { actions, log } = this.deps;
    const cancelled: SupervisorPass['cancelled'] = [];
    for (const c of list) {
      try {
        await actions.transition({ id: c.id, from: 'pending', to: 'cancelled', instance: c.instance, by: 'supervisor', patch: { cancel_reason: c.reason } });
        cancelled.push({ id: c.id, reason: c.reason });
        log.info({ id: c.id, instance: c.instance, reason: c.reason }, `cancelled ${c.id}: ${c.reason}`);
      } catch (err) {
        if (!(err instanceof TransitionError)) throw err;
        log.debug({ id: c.id, err: err.message }, 'auto-cancel lost a race');
      }
    }
    return cancelled;
  }

  /** The wall clock's offset from the monotonic one at the last pass, and when it last stepped. */
  private offset: number | undefined;
  private steppedAt: number | undefined;

  /**
   * When the wall clock last stepped (NTP, a VM resume: wall and monotonic time moved apart by
   * more than a minute between two passes), said once per step. The plan gives agents a moment
   * to report after it before calling their nodes silent.
   */
  private wallClockStep(now: number): number | undefined {
    const mono = this.deps.monotonic?.();
    if (mono === undefined) return undefined;
    const offset = now - mono;
    if (this.offset !== undefined && Math.abs(offset - this.offset) > 60_000) {
      this.steppedAt = now;
      this.deps.log.warn({ step_s: Math.round((offset - this.offset) / 1000) }, `the wall clock stepped by ${Math.round((offset - this.offset) / 1000)} s (NTP, a resumed VM): agents get a moment to report before any node counts as silent`);
    }
    this.offset = offset;
    return this.steppedAt;
  }

  /**
   * Snoozes "until it recovers" end when their service has reported healthy since they began:
   * lifted, and the snoozed action's record says so. Returns the silences still in force.
   */
  private async liftRecovered(silences: Silence[], world: World, now: number): Promise<Silence[]> {
    const keep: Silence[] = [];
    const openNotices = silences.some((s) => s.snooze?.recover && s.snooze.message.startsWith('notice:')) ? new Set((await this.deps.state.notices()).filter((n) => n.state === 'open').map((n) => `notice:${n.key}`)) : new Set<string>();
    for (const s of silences) {
      const w = world.services[s.target];
      // Made on a notice: over when the notice is (the trouble it reported has gone).
      const fromNotice = s.snooze?.message.startsWith('notice:') === true;
      const recovered = fromNotice ? !openNotices.has(s.snooze!.message) : w?.status === 'healthy' && Date.parse(w.since) >= Date.parse(s.created_at);
      if (!s.snooze?.recover || !recovered) {
        keep.push(s);
        continue;
      }
      await this.deps.state.silenceWindows.remove(s.id);
      this.deps.log.info({ target: s.target }, `snooze of ${s.target} lifted: it recovered`);
      if (fromNotice) continue;
      const [id, instance] = s.snooze.message.split('@') as [string, string];
      const a = await this.deps.actions.find(id, instance);
      if (a?.state === 'cancelled' && a.snooze && !a.snooze.unsnoozed_at) {
        const updated = await this.deps.actions.annotate('cancelled', a, { snooze: { ...a.snooze, unsnoozed_by: 'its recovery', unsnoozed_at: new Date(now).toISOString() } });
        if (updated) this.deps.onActionChanged?.(updated);
      }
    }
    return keep;
  }

  /**
   * A maintenance that ended (its notice closed): one message saying so, with what happened
   * during it and what is proposed now that it is over.
   */
  private async maintenanceEnded(closed: readonly string[], world: World, desired: DesiredState, now: number): Promise<void> {
    const ended = closed.filter((k) => k.startsWith('maintenance-'));
    if (ended.length === 0) return;
    const stored = new Map((await this.deps.state.notices()).map((n) => [n.key, n]));
    for (const key of ended) {
      const n = stored.get(key);
      const target = typeof n?.detail?.target === 'string' ? n.detail.target : undefined;
      if (!n || !target) continue;
      const message = maintenanceSummary(world, desired, target, n.opened_at, now);
      await this.deps.state.recordNotice({ key: `maintenance-ended-${key.slice('maintenance-'.length)}`, kind: 'maintenance_ended', node: n.node, ...(n.service ? { service: n.service } : {}), message, revision: n.opened_at, detail: { target, from: n.opened_at } }, now);
      this.deps.log.info({ target }, message);
    }
  }

  /**
   * Ids with a finished file this pass has not counted: they finished after its reads, so its
   * plan for them is stale (an action that moved from one open state to the next and on to
   * failed between the two reads would otherwise be proposed again at once, with no backoff).
   */
  private async finishedSinceRead(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const { state: s, name } of await this.deps.actions.finishedNames(TERMINAL_COUNTED)) {
      if (!this.counted.has(`${s}/${name}`)) out.add(parseFileName(name)!.id);
    }
    return out;
  }

  /** Finished actions not seen by an earlier pass (their files never change once finished). */
  private async newlyFinished(): Promise<Action[]> {
    const finished: Action[] = [];
    const names = await this.deps.actions.finishedNames(TERMINAL_COUNTED);
    // Files retention removed are forgotten here too (a process that runs for a year).
    const present = new Set(names.map(({ state: s, name }) => `${s}/${name}`));
    for (const key of this.counted) if (!present.has(key)) this.counted.delete(key);
    for (const { state: s, name } of names) {
      const key = `${s}/${name}`;
      if (this.counted.has(key)) continue;
      this.counted.add(key);
      const a = await this.deps.actions.read(s, name);
      if (a) finished.push(a);
    }
    return finished;
  }

  /**
   * The heal budgets, with the heals finished since the last pass recorded, and what the
   * inspector found before each (its evidence may be stored a moment after the heal is: a heal
   * without it is looked up again at the next passes, for as long as it counts).
   */
  private async healBudgets(finished: readonly Action[], world: World, desired: DesiredState, now: number): Promise<HealBudgets> {
    const prev = await this.deps.state.healBudgets();
    const policyOf = (key: string) => {
      const [node, service] = key.split('/') as [string, string];
      return desired[node]?.services[service]?.heal ?? DEFAULT_HEAL;
    };
    const next = updateHealBudgets(prev, finished, world, policyOf, now);
    if (this.deps.factsOf) {
      for (const rec of Object.values(next)) {
        for (const h of rec.heals) {
          if (h.facts) continue;
          const facts = await this.deps.factsOf(h.id, h.instance).catch(() => undefined);
          if (facts?.length) h.facts = facts.slice(0, 4);
        }
      }
    }
    if (JSON.stringify(next) !== JSON.stringify(prev)) await this.deps.state.saveHealBudgets(next);
    return next;
  }

  /** When our own actions acted on each service: the open ones and those finished lately. */
  private ownWindows(open: readonly Action[], finished: readonly Action[], now: number): Record<string, OwnWindow[]> {
    const cfg = this.deps.planConfig ?? DEFAULT_PLAN_CONFIG;
    const keepAfter = now - (cfg.steadyS + cfg.verifyAfterS) * 1000;
    this.recent = [...this.recent, ...finished.filter((a) => a.service && a.started_at)].filter((a) => Date.parse(a.finished_at ?? a.updated_at) >= keepAfter);
    return ownWindows([...open, ...this.recent], now, cfg);
  }

  /** When each watched service appeared in services.yaml (a new one gets the missing grace too). */
  private async desiredSince(desired: DesiredState, now: number): Promise<Record<string, string>> {
    // The same desired state (the store hands out one object until a reload) gives the same map:
    // worked out and written once per change of hosts/, not read and compared at every pass.
    if (this.since?.desired === desired) return this.since.map;
    const prev = await this.deps.state.desiredSince();
    const since = desiredSince(prev, desired, now);
    if (JSON.stringify(since) !== JSON.stringify(prev)) await this.deps.state.saveDesiredSince(since);
    this.since = { desired, map: since };
    return since;
  }
  private since: { desired: DesiredState; map: Record<string, string> } | undefined;

  /**
   * Low-risk actions of services marked `auto_approve: true`, and image updates of services with
   * `updates: auto`, are approved by policy. They cannot loop: each outcome starts the id's
   * cooldown (for an update: no new proposal before the next check; a rolled-back digest never).
   */
  private async autoApprove(desired: DesiredState, pending: Action[], maintenance: readonly Silence[], now: number): Promise<void> {
    const nodes = policyNodes(desired);
    if (nodes.size === 0) return;
    for (const a of pending) {
      if (!nodes.has(a.node)) continue;
      const svc = a.service ? desired[a.node]?.services[a.service] : undefined;
      if (!svc) continue;
      // Past its restart budget a service is a person's to decide: never approved by policy.
      if (a.budget?.escalation) continue;
      // A chain is approved by policy only when each of its services would be on its own.
      const chainAuto = () => (a.chain?.dependents ?? []).every((d) => desired[a.node]?.services[d.service]?.auto_approve === true);
      const policy = a.type === 'image_update' ? (svc.updates === 'auto' ? 'updates: auto' : undefined) : a.risk === 'low' && svc.auto_approve && chainAuto() ? 'auto_approve: true' : undefined;
      if (!policy) continue;
      // In maintenance nothing is approved by policy but an image update of `updates: auto`.
      if (a.type !== 'image_update' && maintenanceOf(desired, maintenance, a.node, a.service ?? null, now)) continue;
      try {
        const done = await this.deps.actions.transition({
          id: a.id,
          from: 'pending',
          to: 'approved',
          instance: a.instance,
          by: 'policy',
          note: `${policy} in services.yaml`,
          patch: { approved_by: { via: 'policy', name: policy.split(':')[0]! } },
        });
        this.deps.log.info({ id: a.id }, `approved ${a.id} by policy (${policy})`);
        this.deps.onActionChanged?.(done);
      } catch (err) {
        if (!(err instanceof TransitionError)) throw err;
      }
    }
  }
}

/** The nodes with a service approved by policy (`auto_approve: true`, `updates: auto`), once per desired state. */
const policyNodesOf = new WeakMap<DesiredState, ReadonlySet<string>>();
function policyNodes(desired: DesiredState): ReadonlySet<string> {
  let nodes = policyNodesOf.get(desired);
  if (!nodes) {
    nodes = new Set(Object.keys(desired).filter((node) => Object.values(desired[node]!.services).some((svc) => svc.auto_approve || svc.updates === 'auto')));
    policyNodesOf.set(desired, nodes);
  }
  return nodes;
}
