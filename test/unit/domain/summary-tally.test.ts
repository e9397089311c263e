// A summary made node by node from the renderer's word on what changed is the summary made whole:
// random histories of reports, lost engines, ticks past the prune window and changes of hosts/,
// with summaries asked after some renders and not others (the tally then catches up several).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEvent, emptyModel } from '../../../src/domain/observe.js';
import type { DesiredState, NodeEvent } from '../../../src/domain/schemas.js';
import { summarize, type SummaryInput } from '../../../src/domain/summary.js';
import { SummaryTally } from '../../../src/domain/summary-tally.js';
import { FreshServices, WorldRenderer } from '../../../src/domain/world-render.js';
import { desiredState } from '../../support/desired.js';

const T0 = Date.parse('2026-12-02T10:00:00.000Z');
const CFG = { aliases: {}, agentSilentAfterS: 60, worldPruneAfterH: 1 };
const DESIRED: DesiredState[] = [desiredState({ 'a-b': { x: {} }, a: { x: {}, y: {} }, n1: { x: {} } }), desiredState({ a: { x: {} }, n10: { z: {}, w: { monitor: false } } })];
const NODES = ['a', 'a-b', 'n1', 'n10'];
const SERVICES = ['x', 'y', 'z', 'w'];

type Step = { kind: 'service'; node: number; service: number; status: number } | { kind: 'engine'; node: number; down: boolean } | { kind: 'tick'; ms: number } | { kind: 'desired'; which: number } | { kind: 'render'; summary: boolean };
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('service' as const), node: fc.nat(3), service: fc.nat(3), status: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('engine' as const), node: fc.nat(3), down: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 0, max: 2 * 3_600_000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('desired' as const), which: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('render' as const), summary: fc.boolean() }) },
);

describe('SummaryTally', () => {
  it('gives the summary a whole tally gives, over random histories', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => {
        const model = emptyModel();
        const renderer = new WorldRenderer();
        const tally = new SummaryTally();
        let fresh = new FreshServices();
        let now = T0;
        let desired = DESIRED[0]!;
        for (const s of steps) {
          const ts = new Date(now).toISOString();
          if (s.kind === 'service') {
            const type = ['service_healthy', 'containers_not_running', 'healthcheck_failed'][s.status]!;
            applyEvent(model, { ts, node: NODES[s.node]!, type, service: SERVICES[s.service]! } as NodeEvent, NODES[s.node]!, fresh);
          } else if (s.kind === 'engine') applyEvent(model, { ts, node: NODES[s.node]!, type: 'node_heartbeat', detail: { engine: s.down ? 'unreachable' : 'ok' } }, NODES[s.node]!, fresh);
          else if (s.kind === 'tick') now += s.ms;
          else if (s.kind === 'desired') desired = DESIRED[s.which]!;
          else {
            const world = renderer.render(model, desired, CFG, now, fresh);
            fresh = new FreshServices();
            if (!s.summary) continue;
            const input: SummaryInput = { world, desired, open: [], counts: { pending: 0, approved: 0, running: 0, completed: 0, failed: 0, rejected: 0, cancelled: 0 }, notices: [], configErrors: [], observer: { applied: 0, malformed: 0, duplicate: 0, unknown: 0 }, version: 't', now };
            expect(summarize({ ...input, tally, changes: renderer })).toEqual(summarize(input));
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('works out again only the nodes whose services changed', () => {
    const model = emptyModel();
    const renderer = new WorldRenderer();
    const tally = new SummaryTally();
    const d = DESIRED[0]!;
    let fresh = new FreshServices();
    for (const n of ['a', 'a-b', 'n1']) applyEvent(model, { ts: new Date(T0).toISOString(), node: n, type: 'service_healthy', service: 'x' }, n, fresh);
    let world = renderer.render(model, d, CFG, T0, fresh);
    tally.tally(world, d, renderer);
    expect(tally.made).toBe(3);
    fresh = new FreshServices();
    applyEvent(model, { ts: new Date(T0 + 1000).toISOString(), node: 'n1', type: 'containers_not_running', service: 'x' }, 'n1', fresh);
    world = renderer.render(model, d, CFG, T0 + 1000, fresh);
    tally.tally(world, d, renderer);
    expect(tally.made).toBe(1);
  });
});

describe('summarize: a node is watched when its services.yaml has a service its agent watches', () => {
  it('says so per desired node, and again for a new desired state', () => {
    const input = (desired: DesiredState): SummaryInput => ({ world: { services: {}, nodes: {} }, desired, open: [], counts: {} as SummaryInput['counts'], notices: [], configErrors: [], observer: { applied: 0, malformed: 0, duplicate: 0, unknown: 0 }, version: 't', now: T0 });
    const watched = (desired: DesiredState) => Object.fromEntries(summarize(input(desired)).nodes.map((n) => [n.node, n.watched]));
    const d1 = desiredState({ a: { x: { monitor: false }, y: {} }, b: { z: { monitor: false } } });
    expect(watched(d1)).toEqual({ a: true, b: false });
    expect(watched(d1)).toEqual({ a: true, b: false });
    expect(watched(desiredState({ a: { x: { monitor: false } }, b: { z: {} } }))).toEqual({ a: false, b: true });
  });
});
