// Root cause first (docs/design/supervisor.md): one action for the deepest unhealthy dependency,
// naming the dependents it brings back; nothing of their own for the dependents meanwhile.
import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { dependsOnProblems, rootCauses, type DependencyEdge } from '../../../src/domain/dependencies.js';
import { plan, planNodeOf, planShared, type PlanInput } from '../../../src/domain/plan.js';
import type { World, WorldService } from '../../../src/domain/schemas.js';
import { desiredState } from '../../support/desired.js';

const NOW = Date.parse('2026-05-27T15:00:00.000Z');
const iso = (s: number) => new Date(NOW + s * 1000).toISOString();
const N = 'nas';

function svc(service: string, status: 'healthy' | 'unhealthy', reason: string | null = status === 'unhealthy' ? 'containers_not_running' : null): WorldService {
  return { node: N, service, status, reason, since: iso(-120), last_event_at: iso(-60), last_healthy_at: null, last_incident: null, changes: [] };
}
function world(status: Record<string, 'healthy' | 'unhealthy' | [string]>): World {
  return {
    services: Object.fromEntries(Object.entries(status).map(([s, st]) => [`${N}/${s}`, Array.isArray(st) ? svc(s, 'unhealthy', st[0]) : svc(s, st)])),
    nodes: { [N]: { node: N, last_seen: iso(-10), last_event_type: 'node_heartbeat', disk_pressure: 'normal', disk_used_pct: 40, disk_updated_at: iso(-60), events_applied: 1, events_unknown: 0, agent: 'alive' } },
  };
}
type Spec = Record<string, string[]>;
function input(graph: Spec, status: Record<string, 'healthy' | 'unhealthy' | [string]>, over: Partial<PlanInput> = {}): PlanInput {
  const desired = desiredState({ [N]: Object.fromEntries(Object.entries(graph).map(([s, deps]) => [s, { depends_on: deps }])) });
  return { desired, world: world(status), open: [], cooldowns: {}, silences: [], held: {}, desiredProblems: [], now: NOW, ...over };
}
/** What the plan proposes, in short: `id: dependents` (or just the id). */
const proposed = (i: PlanInput) => plan(i).create.map((d) => (d.chain ? `${d.service} → ${d.chain.dependents.map((s) => s.service + (s.needs.length ? `(needs ${s.needs.join(',')})` : '')).join(', ')}` : d.service));

describe('root cause first: the table of graphs', () => {
  it.each<[string, Spec, Record<string, 'healthy' | 'unhealthy'>, string[]]>([
    ['no dependencies: one action each, as before', { a: [], b: [] }, { a: 'unhealthy', b: 'unhealthy' }, ['a', 'b']],
    ['vpn down, both dependents down: one action for vpn naming both', { vpn: [], a1: ['vpn'], a2: ['vpn'] }, { vpn: 'unhealthy', a1: 'unhealthy', a2: 'unhealthy' }, ['vpn → a1, a2']],
    ['vpn down, dependents still reporting healthy: they are named all the same (they share its fate)', { vpn: [], a1: ['vpn'], a2: ['vpn'] }, { vpn: 'unhealthy', a1: 'healthy', a2: 'healthy' }, ['vpn → a1, a2']],
    ['a dependent down while its dependency is healthy: treated as today', { vpn: [], a1: ['vpn'] }, { vpn: 'healthy', a1: 'unhealthy' }, ['a1']],
    ['a chain db ← app ← web, db down: one action, in dependency order', { db: [], app: ['db'], web: ['app'] }, { db: 'unhealthy', app: 'unhealthy', web: 'unhealthy' }, ['db → app, web']],
    ['the same chain, app down only: app is the root', { db: [], app: ['db'], web: ['app'] }, { db: 'healthy', app: 'unhealthy', web: 'unhealthy' }, ['app → web']],
    ['a diamond: r ← a, r ← b, a+b ← c', { r: [], a: ['r'], b: ['r'], c: ['a', 'b'] }, { r: 'unhealthy', a: 'unhealthy', b: 'unhealthy', c: 'unhealthy' }, ['r → a, b, c']],
    ['a dependent of two unhealthy roots: named by both, waiting for the other', { r1: [], r2: [], d: ['r1', 'r2'] }, { r1: 'unhealthy', r2: 'unhealthy', d: 'unhealthy' }, ['r1 → d(needs r2)', 'r2 → d(needs r1)']],
    ['a healthy root with unhealthy dependents of its own each get their own', { r: [], a: ['r'], b: ['r'] }, { r: 'healthy', a: 'unhealthy', b: 'unhealthy' }, ['a', 'b']],
  ])('%s', (_name, graph, status, expected) => {
    expect(proposed(input(graph, status)).sort()).toEqual(expected.sort());
  });

  it('a root missing from the world (no container at all) is a root all the same', () => {
    expect(proposed(input({ vpn: [], a1: ['vpn'] }, { a1: 'unhealthy' }))).toEqual(['vpn → a1']);
  });

  it("the root's action id is the root's own, deterministic; its risk is the root's", () => {
    const [d] = plan(input({ vpn: [], a1: ['vpn'] }, { vpn: 'unhealthy', a1: ['healthcheck_failed'] })).create;
    expect(d).toMatchObject({ id: 'container-restart-nas-vpn', type: 'container_restart', service: 'vpn', chain: { dependents: [{ service: 'a1', containers: ['a1'], needs: [] }] } });
  });

  it("a dependent's own pending action is cancelled as covered by its root; one under way is left alone", () => {
    const own = (id: string, state: Action['state']): Action => ({ id, instance: '20260527T140000Z', type: 'redeploy', risk: 'guarded', node: N, service: id.split('-').at(-1)!, drift: 'unhealthy_service', trigger: 'healthcheck_failed', state, created_at: iso(-600), updated_at: iso(-600), history: [] });
    const p = plan(input({ vpn: [], a1: ['vpn'], a2: ['vpn'] }, { vpn: 'unhealthy', a1: 'unhealthy', a2: 'unhealthy' }, { open: [own('redeploy-nas-a1', 'pending'), own('redeploy-nas-a2', 'running')] }));
    expect(p.cancel).toEqual([{ id: 'redeploy-nas-a1', instance: '20260527T140000Z', reason: 'covered_by_root' }]);
    expect(p.create.map((d) => d.id)).toEqual(['container-restart-nas-vpn']);
  });

  it('while the root is back but its chain is still open, its dependents stay quiet', () => {
    const root: Action = { id: 'container-restart-nas-vpn', instance: '20260527T145900Z', type: 'container_restart', risk: 'low', node: N, service: 'vpn', drift: 'unhealthy_service', trigger: 'containers_not_running', state: 'running', created_at: iso(-60), updated_at: iso(-10), history: [], chain: { dependents: [{ service: 'a1', containers: ['a1'], needs: [] }] } };
    const p = plan(input({ vpn: [], a1: ['vpn'] }, { vpn: 'healthy', a1: 'unhealthy' }, { open: [root] }));
    expect(p.create).toEqual([]);
    expect(p.notices).toEqual([]);
  });

  it('a dependent that just turned unhealthy while its dependency still reads healthy waits 30 s for the root: then covered, or its own', () => {
    // The agent's pass inspected the vpn a moment before it died, a1 a moment after.
    const fresh = (status: Record<string, 'healthy' | 'unhealthy'>, sinceS: number, over: Partial<PlanInput> = {}) => {
      const i = input({ vpn: [], a1: ['vpn'], b: [] }, status, over);
      for (const s of ['a1', 'b']) if (i.world.services[`${N}/${s}`]!.status === 'unhealthy') i.world.services[`${N}/${s}`]!.since = iso(sinceS);
      return i;
    };
    const early = fresh({ vpn: 'healthy', a1: 'unhealthy', b: 'unhealthy' }, -5);
    // b depends on nothing: proposed at once; a1 waits, and wakes the node when its wait ends.
    expect(proposed(early)).toEqual(['b']);
    expect(planNodeOf(early, planShared(early), early.desired[N]!).due).toBe(Date.parse(iso(25)));
    // The vpn's report arrives within the wait: one action, for the vpn, naming a1.
    expect(proposed(fresh({ vpn: 'unhealthy', a1: 'unhealthy', b: 'healthy' }, -5))).toEqual(['vpn → a1']);
    // The vpn stays healthy: a1 gets its own once the wait is over.
    expect(proposed(fresh({ vpn: 'healthy', a1: 'unhealthy', b: 'healthy' }, -30))).toEqual(['a1']);
    // A learned edge waits the same.
    const learned: DependencyEdge[] = [{ service: 'b', on: 'vpn', source: 'engine', how: 'network' }];
    expect(proposed(fresh({ vpn: 'healthy', a1: 'healthy', b: 'unhealthy' }, -5, { learned: { [N]: learned } }))).toEqual([]);
    expect(proposed(fresh({ vpn: 'healthy', a1: 'healthy', b: 'unhealthy' }, -5))).toEqual(['b']);
  });

  it('a root removed from services.yaml: its dependents are roots of their own again', () => {
    expect(proposed(input({ a1: [], a2: [] }, { vpn: 'unhealthy', a1: 'unhealthy', a2: 'unhealthy' }))).toEqual(['a1', 'a2']);
  });

  it('learned edges (from the engine) count as declared ones; one that would close a cycle is left out', () => {
    const learned: DependencyEdge[] = [
      { service: 'a2', on: 'vpn', source: 'engine', how: 'network' },
      { service: 'vpn', on: 'a1', source: 'engine', how: 'network' },
    ];
    expect(proposed(input({ vpn: [], a1: ['vpn'], a2: [] }, { vpn: 'unhealthy', a1: 'unhealthy', a2: 'unhealthy' }, { learned: { [N]: learned } }))).toEqual(['vpn → a1, a2']);
  });
});

describe('dependencies: checks and roots', () => {
  it('refusals name the entry and the cycle', () => {
    expect(dependsOnProblems({ vpn: { depends_on: ['app'] }, app: { depends_on: ['vpn'] } }).map((p) => p.reason)).toEqual(['depends_on makes a cycle: app → vpn → app']);
    expect(dependsOnProblems({ a: { depends_on: ['x', 'a', 'n2/b'] }, b: null }).map((p) => `${p.index}: ${p.reason}`)).toEqual([
      '0: no service "x" in this file (services: a, b)',
      '1: a cannot depend on itself',
      '2: n2/b is a service of node n2: depends_on names services of this node only',
    ]);
  });

  it('roots are the unhealthy ancestors that depend on nothing unhealthy', () => {
    const e = (service: string, on: string): DependencyEdge => ({ service, on, source: 'services.yaml' });
    const edges = [e('app', 'db'), e('web', 'app'), e('web', 'cache')];
    expect(Object.fromEntries(rootCauses(edges, new Set(['db', 'app', 'web', 'cache'])))).toEqual({ app: ['db'], cache: [], db: [], web: ['cache', 'db'] });
  });
});
