// Incremental planning gives the plan a full plan gives: random histories of a small fleet (world
// changes, the clock, actions proposed, approved, finished, silences, maintenance, a reload of
// hosts/, a step of the wall clock), both planners asked at every step.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { DEFAULT_PLAN_CONFIG, ownWindows, updateCooldowns, type Cooldowns, type PlanConfig } from '../../../src/domain/cooldowns.js';
import { updateHealBudgets, type HealBudgets } from '../../../src/domain/heal-budget.js';
import { plan, type PlanInput } from '../../../src/domain/plan.js';
import { IncrementalPlanner } from '../../../src/domain/plan-incremental.js';
import { indexOpen, OpenIndexer } from '../../../src/domain/plan-context.js';
import type { WorldChanges } from '../../../src/domain/world-render.js';
import type { DesiredState, ServiceState, WorldNode } from '../../../src/domain/schemas.js';
import type { Silence } from '../../../src/domain/silences.js';
import { TimeIntervalSchema } from '../../../src/domain/time-intervals.js';
import { DEFAULT_HEAL } from '../../../src/domain/schemas.js';
import { desiredState } from '../../support/desired.js';

const T0 = Date.parse('2026-05-27T01:30:00.000Z');
const iso = (t: number) => new Date(t).toISOString();

function fleet(): DesiredState {
  const d = desiredState({
    n0: { a: {}, b: { depends_on: ['a'] }, c: { auto_approve: true } },
    n1: { a: {}, b: { heal: { attempts: 2, backoffMs: 60_000, maxBackoffMs: 600_000, withinMs: 3_600_000 } }, c: { monitor: false } },
    n2: { a: {}, b: {} },
  });
  // n2/b has a window in services.yaml (02:00–03:00 UTC): n2 is planned each minute.
  d.n2!.services.b!.maintenance = [TimeIntervalSchema.parse({ times: [{ start_time: '02:00', end_time: '03:00' }] })];
  return d;
}
const NODES = ['n0', 'n1', 'n2'];
const SERVICES = ['a', 'b', 'c'];
// Short windows, so that a history of 80 steps reaches flapping and the budget's backoffs.
const CFG: PlanConfig = { ...DEFAULT_PLAN_CONFIG, flapChanges: 2, steadyS: 600, cooldownBaseS: 120, cooldownMaxS: 1200 };
const REASONS = ['containers_not_running', 'healthcheck_failed', 'container_restarting'];

type Step =
  | { kind: 'service'; node: number; service: number; status: 'healthy' | 'unhealthy' | 'gone'; reason: number }
  | { kind: 'flap'; node: number; service: number }
  | { kind: 'node'; node: number; what: 'heartbeat' | 'silent' | 'engine_down' | 'engine_up' | 'disk_high' | 'disk_normal' | 'new_agent' }
  | { kind: 'tick'; ms: number }
  | { kind: 'apply' }
  | { kind: 'advance'; pick: number; to: 'approved' | 'running' | 'completed' | 'failed' | 'rejected' }
  | { kind: 'silence'; node: number; service: number; forMs: number; maintenance: boolean }
  | { kind: 'vanish'; pick: number }
  | { kind: 'outcome'; node: number; service: number; state: 'completed' | 'rejected' }
  | { kind: 'reload' }
  | { kind: 'clock_step' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flap' as const), node: fc.nat(1), service: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('service' as const), node: fc.constantFrom(0, 0, 1, 1, 2), service: fc.constantFrom(0, 1, 1, 2), status: fc.constantFrom('healthy' as const, 'unhealthy' as const, 'gone' as const), reason: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('node' as const), node: fc.nat(2), what: fc.constantFrom('heartbeat' as const, 'silent' as const, 'engine_down' as const, 'engine_up' as const, 'disk_high' as const, 'disk_normal' as const, 'new_agent' as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 0, max: 90_000 }), fc.integer({ min: 0, max: 900_000 }), fc.integer({ min: 0, max: 4 * 3_600_000 })) }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'apply' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), pick: fc.nat(20), to: fc.constantFrom('approved' as const, 'running' as const, 'completed' as const, 'failed' as const, 'rejected' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('silence' as const), node: fc.nat(2), service: fc.integer({ min: -1, max: 2 }), forMs: fc.integer({ min: 1000, max: 3_600_000 }), maintenance: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('vanish' as const), pick: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('outcome' as const), node: fc.nat(1), service: fc.nat(1), state: fc.constantFrom('completed' as const, 'rejected' as const) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clock_step' as const }) },
);

/** The renderer's word on what changed, as world-render.ts keeps it. */
class FakeChanges implements WorldChanges {
  generation = 0;
  private readonly log: { generation: number; nodes: ReadonlySet<string> | 'all' }[] = [];
  note(nodes: ReadonlySet<string> | 'all'): void {
    this.generation++;
    this.log.push({ generation: this.generation, nodes });
  }
  changedSince(g: number): ReadonlySet<string> | 'all' {
    const out = new Set<string>();
    for (const e of this.log) {
      if (e.generation <= g) continue;
      if (e.nodes === 'all') return 'all';
      for (const n of e.nodes) out.add(n);
    }
    return out;
  }
  /** The world nodes replaced, as the renderer tells them. */
  nodesGeneration = 0;
  private readonly nodesLog: { generation: number; names: readonly string[] }[] = [];
  noteNodes(names: readonly string[]): void {
    this.nodesLog.push({ generation: ++this.nodesGeneration, names });
  }
  nodesChangedSince(g: number): ReadonlySet<string> | 'all' {
    return new Set(this.nodesLog.filter((e) => e.generation > g).flatMap((e) => e.names));
  }
}

/** The supervisor's side of a history: what it reads, and what it does with a plan. */
class History {
  /** The world's services record changes in place for a service already in it, as the observer's does. */
  readonly changes = new FakeChanges();
  now = T0;
  desired = fleet();
  services: Record<string, ServiceState> = {};
  nodes: Record<string, Omit<WorldNode, 'agent'> & { silent: boolean }> = {};
  open: Action[] = [];
  finished: Action[] = [];
  cooldowns: Cooldowns = {};
  heals: HealBudgets = {};
  silences: Silence[] = [];
  maintenance: Silence[] = [];
  since: Record<string, string> = {};
  stepped: number | undefined;
  private n = 0;
  /** The world's nodes as the observer's renderer keeps them: one record changed in place, a node object again while it reads the same. */
  private readonly rendered: Record<string, WorldNode> = {};
  private readonly renderedFrom = new Map<string, object>();

  constructor() {
    for (const node of NODES) this.heartbeat(node);
    // Every service healthy at first (one of n2 just added): drifts are the history's.
    for (const node of NODES) for (const service of SERVICES) this.services[`${node}/${service}`] = { node, service, status: 'healthy', reason: null, since: iso(T0), last_event_at: iso(T0), last_healthy_at: iso(T0), last_incident: null, changes: [] };
    delete this.services['n1/a'];
    this.since = { [`n1/a`]: iso(T0) };
  }

  /** A service's new object: put in place when the key is there, else a new record (a whole render). */
  private put(key: string, value: ServiceState | undefined): void {
    const node = key.slice(0, key.indexOf('/'));
    if (value && key in this.services) {
      this.services[key] = value;
      this.changes.note(new Set([node]));
      return;
    }
    const next = { ...this.services };
    if (value) next[key] = value;
    else delete next[key];
    this.services = next;
    this.changes.note('all');
  }

  private heartbeat(node: string): void {
    const prev = this.nodes[node];
    this.nodes[node] = { node, last_seen: iso(this.now), last_event_type: 'node_heartbeat', disk_pressure: prev?.disk_pressure ?? 'normal', disk_used_pct: 40, disk_updated_at: prev?.disk_updated_at ?? iso(this.now), events_applied: (prev?.events_applied ?? 0) + 1, events_unknown: 0, first_seen: prev?.first_seen ?? iso(this.now - 3_600_000), engine: prev?.engine ?? 'reachable', engine_since: prev?.engine_since ?? iso(this.now), silent: false };
  }

  private policy(key: string) {
    const [node, service] = key.split('/') as [string, string];
    return this.desired[node]?.services[service]?.heal ?? DEFAULT_HEAL;
  }

  private record(done: Action, last: PlanInput): void {
    this.finished.push(done);
    this.cooldowns = updateCooldowns(this.cooldowns, [done], last.world, this.now, CFG);
    this.heals = updateHealBudgets(this.heals, [done], last.world, (key) => this.policy(key), this.now);
  }

  /** The same input, its world's nodes as the renderer keeps them (render-nodes.ts). */
  inPlace(input: PlanInput): PlanInput {
    const replaced: string[] = [];
    for (const [name, n] of Object.entries(this.nodes)) {
      if (this.renderedFrom.get(name) === n) continue;
      this.renderedFrom.set(name, n);
      this.rendered[name] = input.world.nodes[name]!;
      replaced.push(name);
    }
    if (replaced.length > 0) this.changes.noteNodes(replaced);
    return { ...input, world: { services: input.world.services, nodes: this.rendered } };
  }

  input(): PlanInput {
    const world = {
      services: this.services,
      // Rendered anew each time, as the observer does.
      nodes: Object.fromEntries(Object.values(this.nodes).map(({ silent, ...n }) => [n.node, { ...n, agent: silent ? ('silent' as const) : ('alive' as const) }])),
    };
    // As the supervisor does at each pass: counts reset by a steady service, heals by reset_after.
    this.cooldowns = updateCooldowns(this.cooldowns, [], world, this.now, CFG);
    this.heals = updateHealBudgets(this.heals, [], world, (key) => this.policy(key), this.now);
    const recent = this.finished.filter((a) => Date.parse(a.finished_at!) >= this.now - (CFG.steadyS + CFG.verifyAfterS) * 1000);
    return {
      desired: this.desired,
      world,
      open: [...this.open],
      cooldowns: this.cooldowns,
      silences: this.silences,
      maintenance: this.maintenance,
      held: {},
      desiredProblems: [],
      now: this.now,
      own: ownWindows([...this.open, ...recent], this.now, CFG),
      cfg: CFG,
      desiredSince: this.since,
      heals: this.heals,
      ...(this.stepped !== undefined ? { clockSteppedAt: this.stepped, openNotices: new Set(['node-silent-n1']) } : {}),
    };
  }

  run(s: Step, last: PlanInput, p: ReturnType<typeof plan>): void {
    const node = NODES[(s as { node?: number }).node ?? 0]!;
    switch (s.kind) {
      case 'service': {
        const key = `${node}/${SERVICES[s.service]}`;
        if (s.status === 'gone') {
          this.put(key, undefined);
          break;
        }
        const prev = this.services[key];
        this.put(key, { node, service: SERVICES[s.service]!, status: s.status, reason: s.status === 'healthy' ? null : REASONS[s.reason]!, since: iso(this.now), last_event_at: iso(this.now), last_healthy_at: null, last_incident: null, changes: [...(prev?.changes ?? []), iso(this.now)].slice(-10) });
        break;
      }
      case 'flap': {
        const key = `${node}/${SERVICES[s.service]}`;
        const prev = this.services[key];
        const changes = [...(prev?.changes ?? []), iso(this.now - 2000), iso(this.now - 1000), iso(this.now)].slice(-10);
        this.put(key, { node, service: SERVICES[s.service]!, status: 'unhealthy', reason: REASONS[0]!, since: iso(this.now), last_event_at: iso(this.now), last_healthy_at: null, last_incident: null, changes });
        break;
      }
      case 'node': {
        const n = this.nodes[node]!;
        if (s.what === 'heartbeat') this.heartbeat(node);
        else if (s.what === 'silent') this.nodes[node] = { ...n, silent: true };
        else if (s.what === 'engine_down' || s.what === 'engine_up') this.nodes[node] = { ...n, engine: s.what === 'engine_down' ? 'unreachable' : 'reachable', engine_since: iso(this.now) };
        else if (s.what === 'new_agent') this.nodes[node] = { ...n, first_seen: iso(this.now), silent: false };
        else this.nodes[node] = { ...n, disk_pressure: s.what === 'disk_high' ? 'high' : 'normal', disk_updated_at: iso(this.now) };
        break;
      }
      case 'tick':
        this.now += s.ms;
        break;
      case 'apply': {
        const gone = new Set(p.cancel.map((c) => c.id));
        this.finished.push(...this.open.filter((a) => gone.has(a.id)).map((a) => ({ ...a, state: 'cancelled' as const, finished_at: iso(this.now), updated_at: iso(this.now) })));
        this.open = this.open.filter((a) => !gone.has(a.id));
        for (const d of p.create) {
          if (this.open.some((a) => a.id === d.id)) continue;
          this.open.push({ id: d.id, instance: d.instance, type: d.type, risk: d.risk, node: d.node, service: d.service, drift: d.drift, trigger: d.trigger, state: 'pending', created_at: iso(this.now), updated_at: iso(this.now), history: [], ...(d.chain ? { chain: d.chain } : {}) } as Action);
        }
        break;
      }
      case 'advance': {
        const a = this.open[s.pick % Math.max(1, this.open.length)];
        if (!a) break;
        const at = iso(this.now);
        const next = { ...a, state: s.to, updated_at: at, ...(s.to === 'running' || s.to === 'completed' || s.to === 'failed' ? { started_at: a.started_at ?? at } : {}) } as Action;
        this.open = this.open.filter((x) => x !== a);
        if (s.to === 'approved' || s.to === 'running') this.open.push(next);
        else {
          this.record({ ...next, finished_at: at }, last);
        }
        break;
      }
      case 'silence': {
        const target = s.service < 0 ? node : `${node}/${SERVICES[s.service]}`;
        const entry: Silence = { id: `s${++this.n}`, target, until: iso(this.now + s.forMs), created_at: iso(this.now) };
        if (s.maintenance) this.maintenance = [...this.maintenance, entry];
        else this.silences = [...this.silences, entry];
        break;
      }
      case 'vanish': {
        // A file removed by hand, or an action another process moved: no outcome recorded.
        const a = this.open[s.pick % Math.max(1, this.open.length)];
        this.open = this.open.filter((x) => x !== a);
        break;
      }
      case 'outcome': {
        // An action that was never open at a pass (made and carried out between two): its outcome only.
        const service = SERVICES[s.service]!;
        const at = iso(this.now);
        const done = { id: `container-restart-${node}-${service}`, instance: `x${++this.n}`, type: 'container_restart', risk: 'low', node, service, drift: 'unhealthy_service', trigger: 'containers_not_running', state: s.state, created_at: at, updated_at: at, started_at: at, finished_at: at, history: [] } as Action;
        this.record(done, last);
        break;
      }
      case 'reload':
        this.desired = fleet();
        this.since = { ...this.since };
        break;
      case 'clock_step':
        this.stepped = this.now;
        break;
    }
  }
}

describe('incremental planning', () => {
  it('gives the plan a full plan gives, at every step of random histories', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => {
        const h = new History();
        const planner = new IncrementalPlanner(Infinity);
        // The same, told by the renderer which nodes' services changed (the supervisor's case).
        const told = new IncrementalPlanner(Infinity);
        let planned = 0;
        for (const s of steps) {
          const input = h.input();
          const full = plan(input);
          const { planned: n, full: _full, ...incremental } = planner.plan(input);
          planned += n;
          expect(incremental).toEqual(full);
          // (Its world's nodes kept as the renderer keeps them: changed in place.)
          const { planned: _n, full: _f, ...byWord } = told.plan(h.inPlace(input), h.changes);
          expect(byWord).toEqual(full);
          h.run(s, input, full);
        }
        return planned >= 0;
      }),
      { numRuns: 400 },
    );
  });

  it('plans again only the nodes whose inputs changed', () => {
    const h = new History();
    const planner = new IncrementalPlanner(Infinity);
    expect(planner.plan(h.input()).planned).toBe(3);
    expect(planner.plan(h.input()).planned).toBe(0);
    h.run({ kind: 'service', node: 1, service: 0, status: 'healthy', reason: 0 }, h.input(), plan(h.input()));
    expect(planner.plan(h.input()).planned).toBe(1);
    expect(planner.plan(h.input()).planned).toBe(0);
  });
  it('plans a node again when only its cooldowns changed (a count reset, an outcome of another process)', () => {
    const h = new History();
    const planner = new IncrementalPlanner(Infinity);
    // n0/a down long enough to be proposed, but its restart cooling down: nothing proposed yet.
    h.run({ kind: 'service', node: 0, service: 0, status: 'unhealthy', reason: 0 }, h.input(), plan(h.input()));
    h.now += 5 * 60_000;
    const id = plan(h.input()).create.find((d) => d.node === 'n0' && d.service === 'a')!.id;
    const cooling = { ...h.input(), cooldowns: { [id]: { node: 'n0', service: 'a', type: 'container_restart' as const, count: 3, last_at: iso(h.now) } } };
    const held = planner.plan(cooling, h.changes);
    expect(held.create.map((d) => d.id)).not.toContain(id);
    const { planned: _p, full: _f, ...kept } = planner.plan(cooling, h.changes);
    expect(kept).toEqual(plan(cooling));
    // The cooldown gone and nothing else changed (the same world, actions and clock): n0 is planned again.
    const lifted = { ...cooling, cooldowns: {} };
    const { planned: _n, full: _g, ...again } = planner.plan(lifted, h.changes);
    expect(again).toEqual(plan(lifted));
    expect(again.create.map((d) => d.id)).toContain(id);
  });
  it('cancels what no node wants as a full plan does, while actions come and go one by one', () => {
    const h = new History();
    const planner = new IncrementalPlanner(Infinity);
    const base = h.input();
    const pending = (id: string, node: string, service: string | null, type = 'container_restart') => ({ id, instance: `i-${id}`, type, risk: 'low', node, service, drift: 'unhealthy_service', trigger: 'containers_not_running', state: 'pending', created_at: iso(T0), updated_at: iso(T0), history: [] }) as unknown as Action;
    const wanted = pending('container-restart-n0-a', 'n0', 'a');
    const orphan = pending('container-restart-n0-zz', 'n0', 'zz');
    const gone = pending('disk-cleanup-n9', 'n9', null, 'disk_cleanup');
    const unwatched = pending('container-restart-n1-c', 'n1', 'c');
    const listings = [[wanted], [wanted, orphan], [wanted, orphan, gone], [orphan, gone], [orphan, gone, unwatched], [gone, unwatched], [unwatched], [orphan, unwatched], []];
    for (const open of listings) {
      const input = { ...base, open };
      const { planned: _p, full: _f, ...got } = planner.plan(input, h.changes);
      expect(got).toEqual(plan(input));
    }
    expect(plan({ ...base, open: [orphan, gone, unwatched] }).cancel.map((c) => c.id)).toEqual([orphan.id, gone.id, unwatched.id]);
  });
});

describe("the open actions' index kept from plan to plan", () => {
  const objects: Action[] = Array.from({ length: 10 }, (_, i) => ({ id: `a${i % 6}`, instance: `i${i}`, node: `n${i % 3}`, service: i % 4 === 0 ? null : `s${i % 2}` }) as Action);
  const entries = (m: Map<string, unknown>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

  it('is indexOpen of each listing, whatever came, went, repeated or moved', () => {
    // Listings: mostly the last one with an action added or removed (as the store's are), sometimes anything.
    const step = fc.oneof(
      fc.record({ add: fc.integer({ min: 0, max: 9 }) }),
      fc.record({ insert: fc.integer({ min: 0, max: 9 }), at: fc.nat() }),
      fc.record({ drop: fc.nat() }),
      fc.record({ any: fc.array(fc.constantFrom(...objects), { maxLength: 12 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const indexer = new OpenIndexer();
        let open: Action[] = [];
        let last: Action[] = [];
        for (const s of steps) {
          if ('add' in s) open = [...open, objects[s.add]!];
          else if ('insert' in s) {
            const at = s.at % (open.length + 1);
            open = [...open.slice(0, at), objects[s.insert]!, ...open.slice(at)];
          } else if ('drop' in s) open = open.filter((_, i) => i !== s.drop % Math.max(1, open.length));
          else open = s.any;
          const got = indexer.index(open);
          const want = indexOpen(open);
          expect(entries(got.byId)).toEqual(entries(want.byId));
          expect(entries(got.byService)).toEqual(entries(want.byService));
          expect(entries(got.byNode)).toEqual(entries(want.byNode));
          // What came and went, as told to the planner.
          if (indexer.change !== 'all') {
            const was = new Set(last);
            const now = new Set(open);
            expect(new Set(indexer.change.added)).toEqual(new Set(open.filter((a) => !was.has(a))));
            expect(new Set(indexer.change.gone)).toEqual(new Set(last.filter((a) => !now.has(a))));
            // Places increase along the listing (the order the planner sorts what it keeps by).
            const places = open.map((a) => indexer.placeOf(a)!);
            expect(places.every((x, i) => i === 0 || x > places[i - 1]!)).toBe(true);
          }
          last = open;
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('places stay in order when new actions keep coming between the same two (made anew when too close)', () => {
    const indexer = new OpenIndexer();
    const make = (i: number) => ({ id: `y${i}`, instance: 'i', node: `n${i % 7}`, service: `s${i}` }) as Action;
    let open = [make(0), make(1)];
    indexer.index(open);
    for (let i = 2; i < 80; i++) {
      open = [open[0]!, make(i), ...open.slice(1)];
      const got = indexer.index(open);
      expect(indexer.change).toMatchObject({ added: [open[1]], gone: [] });
      const places = open.map((a) => indexer.placeOf(a)!);
      expect(places.every((x, k) => k === 0 || x > places[k - 1]!)).toBe(true);
      expect(entries(got.byNode)).toEqual(entries(indexOpen(open).byNode));
    }
  });

  it('a listing with one action more or less makes anew the lists of its node and service only', () => {
    const many: Action[] = Array.from({ length: 300 }, (_, i) => ({ id: `x${i}`, instance: 'i', node: `n${i % 100}`, service: `s${i}` }) as Action);
    const indexer = new OpenIndexer();
    const first = indexer.index(many);
    const before = new Map(first.byNode);
    const late = { id: 'late', instance: 'i', node: 'n7', service: 's7' } as Action;
    const second = indexer.index([...many.slice(1), late]);
    const remade = [...second.byNode].filter(([node, list]) => before.get(node) !== list).map(([node]) => node);
    expect(remade.sort()).toEqual(['n0', 'n7']);
    expect(second.byNode.get('n7')!.at(-1)).toBe(late);
    expect(second.byId.has('x0')).toBe(false);
  });
});
