// Rendering what changed gives the world a whole render gives: random histories of events (service
// reports, heartbeats with the engine lost and found, a node under another name), the clock moving
// past the prune window, the desired state swapped, a render after each step or after several.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEvent, emptyModel, type ObserverModel } from '../../../src/domain/observe.js';
import type { DesiredState, NodeEvent } from '../../../src/domain/schemas.js';
import { FreshServices, renderWorld, WorldRenderer } from '../../../src/domain/world-render.js';
import { desiredState } from '../../support/desired.js';

const T0 = Date.parse('2026-12-02T10:00:00.000Z');
const CFG = { aliases: { old: 'n0' }, agentSilentAfterS: 60, worldPruneAfterH: 1 };
const DESIRED: DesiredState[] = [desiredState({ n0: { a: {}, b: {} }, n1: { a: {} } }), desiredState({ n0: { a: {} }, n2: { c: {}, d: { monitor: false } } })];

type Step =
  | { kind: 'service'; node: number; service: number; healthy: boolean; dt: number }
  | { kind: 'heartbeat'; node: number; engine: 'ok' | 'unreachable' | 'none'; dt: number; agent: string | undefined; interval: number | undefined }
  | { kind: 'tick'; ms: number }
  | { kind: 'desired'; which: number }
  | { kind: 'render' };

const NODES = ['n0', 'n1', 'n2', 'old'];
const SERVICES = ['a', 'b', 'c', 'd'];
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('service' as const), node: fc.nat(3), service: fc.nat(3), healthy: fc.boolean(), dt: fc.integer({ min: -120_000, max: 60_000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), node: fc.nat(3), engine: fc.constantFrom('ok' as const, 'unreachable' as const, 'none' as const), dt: fc.integer({ min: -60_000, max: 1000 }), agent: fc.constantFrom(undefined, 'i1', 'i2'), interval: fc.constantFrom(undefined, 5, 30, 120) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 0, max: 2 * 3_600_000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('desired' as const), which: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'render' as const }) },
);

describe('WorldRenderer', () => {
  it('renders what a whole render renders, key order included, over random histories', () => {
    let toldByName = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) => {
        const model: ObserverModel = emptyModel();
        const renderer = new WorldRenderer();
        let fresh = new FreshServices();
        let now = T0;
        let desired = DESIRED[0]!;
        // A node object of a world never changes afterwards (world/nodes.json keeps each node's
        // text by its object): its text when first rendered, by object.
        const nodeTexts = new WeakMap<object, string>();
        // What the last render's nodes were, and the generation of its nodes: what changed since is told.
        let before: { record: object; nodes: Record<string, object>; generation: number } | undefined;
        for (const s of steps) {
          if (s.kind === 'service' || s.kind === 'heartbeat') {
            const ts = new Date(now + s.dt).toISOString();
            const ev: NodeEvent =
              s.kind === 'service'
                ? { ts, node: NODES[s.node]!, type: s.healthy ? 'service_healthy' : 'containers_not_running', service: SERVICES[s.service]! }
                : { ts, node: NODES[s.node]!, type: 'node_heartbeat', ...(s.agent ? { agent: s.agent } : {}), detail: { ...(s.engine === 'none' ? {} : { engine: s.engine }), ...(s.interval ? { interval_s: s.interval } : {}) } };
            applyEvent(model, ev, ev.node, fresh);
          } else if (s.kind === 'tick') now += s.ms;
          else if (s.kind === 'desired') desired = DESIRED[s.which]!;
          else {
            const got = renderer.render(model, desired, CFG, now, fresh);
            fresh = new FreshServices();
            expect(JSON.stringify(got)).toBe(JSON.stringify(renderWorld(model, desired, CFG, now)));
            for (const n of Object.values(got.nodes)) {
              const text = JSON.stringify(n);
              expect(nodeTexts.get(n) ?? text).toBe(text);
              nodeTexts.set(n, text);
            }
            if (before?.record === got.nodes) {
              const told = renderer.nodesChangedSince(before.generation);
              const replaced = Object.keys(got.nodes).filter((name) => got.nodes[name] !== before!.nodes[name]);
              if (told !== 'all') {
                expect([...told].sort()).toEqual(replaced.sort());
                toldByName++;
              }
            }
            before = { record: got.nodes, nodes: { ...got.nodes }, generation: renderer.nodesGeneration };
          }
        }
      }),
      { numRuns: 500 },
    );
    // (Most renders name what they replaced; a new record of nodes is 'all'.)
    expect(toldByName).toBeGreaterThan(200);
  });

  it('a service reported on a node whose engine is unreachable stays unknown', () => {
    const model = emptyModel();
    const r = new WorldRenderer();
    let fresh = new FreshServices();
    const d = DESIRED[0]!;
    const ts = new Date(T0).toISOString();
    applyEvent(model, { ts, node: 'n0', type: 'node_heartbeat', detail: { engine: 'unreachable' } }, 'n0', fresh);
    r.render(model, d, CFG, T0, fresh);
    fresh = new FreshServices();
    applyEvent(model, { ts, node: 'n0', type: 'containers_not_running', service: 'a' }, 'n0', fresh);
    expect(r.render(model, d, CFG, T0, fresh)).toEqual(renderWorld(model, d, CFG, T0));
    expect(r.render(model, d, CFG, T0, fresh).services['n0/a']!.status).toBe('unknown');
  });

  it('a service the desired state no longer names is pruned on time after a change of hosts/', () => {
    const model = emptyModel();
    const r = new WorldRenderer();
    const fresh = new FreshServices();
    applyEvent(model, { ts: new Date(T0).toISOString(), node: 'n1', type: 'service_healthy', service: 'a' }, 'n1', fresh);
    r.render(model, DESIRED[0]!, CFG, T0, fresh);
    const later = T0 + 2 * 3_600_000;
    const w = r.render(model, DESIRED[1]!, CFG, later, new FreshServices());
    expect(w.services['n1/a']).toBeUndefined();
    expect(w).toEqual(renderWorld(model, DESIRED[1]!, CFG, later));
  });

  it('keeps the services record when no service changed, and puts a changed one in, in place', () => {
    const model = emptyModel();
    const renderer = new WorldRenderer();
    let fresh = new FreshServices();
    const d = DESIRED[0]!;
    applyEvent(model, { ts: new Date(T0).toISOString(), node: 'n0', type: 'service_healthy', service: 'a' }, 'n0', fresh);
    const w1 = renderer.render(model, d, CFG, T0, fresh);
    fresh = new FreshServices();
    applyEvent(model, { ts: new Date(T0 + 1000).toISOString(), node: 'n0', type: 'node_heartbeat' }, 'n0', fresh);
    const w2 = renderer.render(model, d, CFG, T0 + 1000, fresh);
    expect(w2.services).toBe(w1.services);
    fresh = new FreshServices();
    applyEvent(model, { ts: new Date(T0 + 2000).toISOString(), node: 'n0', type: 'containers_not_running', service: 'a' }, 'n0', fresh);
    const generation = renderer.generation;
    const w3 = renderer.render(model, d, CFG, T0 + 2000, fresh);
    expect(w3.services).toBe(w1.services);
    expect(w3.services['n0/a']!.status).toBe('unhealthy');
    expect(renderer.generation).toBe(generation + 1);
    expect(renderer.stats).toEqual({ whole: 1, kept: 1, patched: 1 });
  });

  it('a node that reads as before is the same object, in the same record; one that changed or went silent by the clock is a new object in it', () => {
    const model = emptyModel();
    const renderer = new WorldRenderer();
    const d = DESIRED[0]!;
    // What events changed since the last render, handed to the next one.
    let fresh = new FreshServices();
    const render = (now: number) => {
      const w = renderer.render(model, d, CFG, now, fresh);
      fresh = new FreshServices();
      return w;
    };
    applyEvent(model, { ts: new Date(T0).toISOString(), node: 'n0', type: 'node_heartbeat' }, 'n0', fresh);
    const w1 = render(T0);
    const w2 = render(T0 + 1000);
    expect(w2.nodes).toBe(w1.nodes);
    applyEvent(model, { ts: new Date(T0 + 2000).toISOString(), node: 'n0', type: 'node_heartbeat' }, 'n0', fresh);
    const n0 = w1.nodes.n0;
    const n1 = w1.nodes.n1;
    const w3 = render(T0 + 2000);
    // The record is changed in place (as the services are): a changed node is a new object in it.
    expect(w3.nodes).toBe(w1.nodes);
    expect(w3.nodes.n0).not.toBe(n0);
    expect(w3.nodes.n1).toBe(n1);
    expect(w3.nodes.n0!.events_applied).toBe(2);
    // 60 s without a word: silent, by the clock alone.
    const w4 = render(T0 + 2000 + 61_000);
    expect(w4.nodes.n0!.agent).toBe('silent');
    expect(w4).toEqual(renderWorld(model, d, CFG, T0 + 2000 + 61_000));
    // A node no event touched is not looked at again before its time: changed behind the
    // renderer's back (never done outside this test), it still reads as rendered.
    model.nodes.n0!.events_applied = 99;
    expect(render(T0 + 2000 + 62_000).nodes.n0!.events_applied).toBe(2);
    fresh.nodes.add('n0');
    expect(render(T0 + 2000 + 63_000).nodes.n0!.events_applied).toBe(99);
  });

  it('two agent instances running at once stop counting when the clock passes their window, with no event', () => {
    const model = emptyModel();
    const renderer = new WorldRenderer();
    const d = DESIRED[0]!;
    let fresh = new FreshServices();
    const beat = (agent: string, at: number) => applyEvent(model, { ts: new Date(at).toISOString(), node: 'n1', type: 'node_heartbeat', agent, detail: { interval_s: 120 } }, 'n1', fresh);
    beat('i1', T0);
    beat('i2', T0 + 1000);
    beat('i1', T0 + 2000);
    beat('i2', T0 + 3000);
    const at = (now: number) => {
      const w = renderer.render(model, d, CFG, now, fresh);
      fresh = new FreshServices();
      expect(w).toEqual(renderWorld(model, d, CFG, now));
      return w.nodes.n1!;
    };
    expect(at(T0 + 3000).agents_running).toEqual(['i1', 'i2']);
    // Silent after 60 s, still two instances within 3 × 120 s.
    expect(at(T0 + 70_000)).toMatchObject({ agent: 'silent', agents_running: ['i1', 'i2'] });
    expect(at(T0 + 2000 + 360_001).agents_running).toBeUndefined();
  });

  it('a render after an event looks at the nodes it touched, not at every node of the model', () => {
    const model = emptyModel();
    // The model's nodes behind a proxy that counts every walk over them and every node read.
    let walks = 0;
    const reads: string[] = [];
    model.nodes = new Proxy(model.nodes, {
      ownKeys: (t) => (walks++, Reflect.ownKeys(t)),
      get: (t, k, r) => (typeof k === 'string' && k in t && reads.push(k), Reflect.get(t, k, r)),
    });
    const names = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const d = desiredState(Object.fromEntries(names.map((n) => [n, { a: {} }])));
    const renderer = new WorldRenderer();
    let fresh = new FreshServices();
    for (const node of names) applyEvent(model, { ts: new Date(T0).toISOString(), node, type: 'service_healthy', service: 'a' }, node, fresh);
    const render = (now: number) => {
      const w = renderer.render(model, d, CFG, now, fresh);
      fresh = new FreshServices();
      return w;
    };
    render(T0);
    walks = 0;
    reads.length = 0;
    applyEvent(model, { ts: new Date(T0 + 1000).toISOString(), node: 'm7', type: 'containers_not_running', service: 'a' }, 'm7', fresh);
    const w = render(T0 + 1000);
    expect(walks).toBe(0);
    expect(new Set(reads)).toEqual(new Set(['m7']));
    expect(w).toEqual(renderWorld(model, d, CFG, T0 + 1000));
    // Past the time the nodes go silent, every node is looked at again (and renders silent).
    const late = render(T0 + 61_000);
    expect(walks).toBeGreaterThan(0);
    expect(late.nodes.m0!.agent).toBe('silent');
    expect(late.nodes.m7!.agent).toBe('alive');
  });
});
