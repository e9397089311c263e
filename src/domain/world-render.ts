// The world rendered from what changed (docs/design/observer.md, "Rendering"): renderServices
// goes over every service of the model (50 000 on a large fleet), but between two renders only the
// services whose objects were replaced changed — applyServiceEvent never edits an object a world
// holds. So a render keeps the last services record and puts the changed ones in, in place, as
// long as nothing else it depends on moved: the same model, desired state and configuration, the
// same nodes blind (engine unreachable), no service old enough to prune, and every changed service
// already in the record on a node that is not blind. Otherwise it renders whole, into a new record.
// The record a world holds is therefore the current one, not a snapshot: read it synchronously for
// one. Nodes (one per host) are rendered again when an event touched them or the clock reached
// the time they read otherwise (silent, an agent instance no longer running); the others are the
// last render's objects. The result is renderWorld's (a property test compares both).
import { renderServices, type ObserveConfig, type ObserverModel, type RenderConfig } from './observe.js';
import { renderNodes, type NodeMemo } from './render-nodes.js';
import type { DesiredState, ServiceState, World } from './schemas.js';

/**
 * World state from the model, the desired state and the clock. Ghost keys are pruned: entries
 * whose key is not `<canonical node>/<service>`, and entries not heard of for WORLD_PRUNE_AFTER_H
 * that no desired state names. Nodes of the desired state that never spoke are listed as silent.
 */
export function renderWorld(model: ObserverModel, desired: DesiredState, cfg: RenderConfig & ObserveConfig, now: number): World {
  return { services: renderServices(model, desired, cfg, now).services, nodes: renderNodes(model, desired, cfg, now) };
}

/**
 * The service objects made since the last render: no world holds them yet, so they may change in
 * place (applyServiceEvent), and their keys are what the next render puts in.
 */
export class FreshServices extends WeakSet<ServiceState> {
  readonly changed: string[] = [];
  /** The nodes an event touched (applyEvent): the others read as rendered until the clock says otherwise. */
  readonly nodes = new Set<string>();
  override add(s: ServiceState): this {
    this.changed.push(`${s.node}/${s.service}`);
    return super.add(s);
  }
}

export interface RenderStats {
  whole: number;
  kept: number;
  patched: number;
}

/** The node of a service key `<node>/<service>` (the key itself when it has no '/'). */
export function nodeOfKey(key: string): string {
  const i = key.indexOf('/');
  return i < 0 ? key : key.slice(0, i);
}

/** A record's keys by node, nodes in the order of their first key, keys in the record's order. */
export function keysByNode(record: Readonly<Record<string, unknown>>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const key in record) {
    const node = nodeOfKey(key);
    const list = out.get(node);
    if (list) list.push(key);
    else out.set(node, [key]);
  }
  return out;
}

/** What the world renderer tells of its changes. */
export interface WorldChanges {
  readonly generation: number;
  /** The nodes whose services changed after `generation`, or 'all' (a whole render, or too long ago). */
  changedSince(generation: number): ReadonlySet<string> | 'all';
  /** Moves whenever a world node object is replaced (or the nodes record). */
  readonly nodesGeneration?: number;
  /** The names whose world node object was replaced after `generation` of the nodes, or 'all'. */
  nodesChangedSince?(generation: number): ReadonlySet<string> | 'all';
}

/** Changes by generation, the last CHANGES_KEPT of them: what changed since a generation, or 'all'. */
class ChangeLog {
  generation = 0;
  private readonly log: { generation: number; change: 'all' | readonly string[] }[] = [];

  note(change: 'all' | readonly string[]): void {
    this.generation++;
    this.log.push({ generation: this.generation, change });
    if (this.log.length > CHANGES_KEPT) this.log.shift();
  }

  /** The nodes of the keys changed after `generation` (`of`: a key's node), or 'all'. */
  since(generation: number, of: (key: string) => string): ReadonlySet<string> | 'all' {
    const nodes = new Set<string>();
    if (generation === this.generation) return nodes;
    if (generation > this.generation || this.log.length === 0 || this.log[0]!.generation > generation + 1) return 'all';
    for (const e of this.log) {
      if (e.generation <= generation) continue;
      if (e.change === 'all') return 'all';
      for (const k of e.change) nodes.add(of(k));
    }
    return nodes;
  }
}

/** Renders whose changes are kept for changedSince: a reader further behind works everything out again. */
const CHANGES_KEPT = 256;

export class WorldRenderer implements WorldChanges {
  private last: { services: ObserverModel['services']; desired: DesiredState; cfg: object; blind: string; nextPruneAt: number; world: World } | undefined;
  readonly stats: RenderStats = { whole: 0, kept: 0, patched: 0 };
  /** The changes of the last renders that changed services (changedSince), and world nodes (nodesChangedSince). */
  private readonly services = new ChangeLog();
  private readonly nodeChanges = new ChangeLog();
  /** What the last render changed: every service ('all': rendered whole) or these keys. */
  lastChange: 'all' | readonly string[] = 'all';

  /** Moves whenever the services record changes (a whole render, or services put in). */
  get generation(): number {
    return this.services.generation;
  }

  /** The nodes whose services changed after `generation`, or 'all' (a whole render since, or a change older than the log). */
  changedSince(generation: number): ReadonlySet<string> | 'all' {
    return this.services.since(generation, nodeOfKey);
  }

  get nodesGeneration(): number {
    return this.nodeChanges.generation;
  }

  nodesChangedSince(generation: number): ReadonlySet<string> | 'all' {
    return this.nodeChanges.since(generation, (name) => name);
  }

  private changed(change: 'all' | readonly string[]): void {
    this.lastChange = change;
    this.services.note(change);
  }

  /** The next render is made whole (the model was replaced or changed without `fresh`: a replay). */
  reset(): void {
    this.last = undefined;
    this.blind = undefined;
    this.forgetNodes();
  }

  /** Until when each node reads as last rendered, for one model's nodes and one configuration (renderNodes). */
  private readonly nodeMemo: NodeMemo = { touched: new Set(), until: new Map(), due: Number.NEGATIVE_INFINITY };
  private nodesOf: { nodes: object; cfg: object } | undefined;

  /** The nodes whose engine is unreachable, with since when (their services render otherwise), for one model's nodes. */
  private blind: { nodes: object; since: Map<string, string>; text: string } | undefined;

  /** What `blind` holds, as text: only the nodes an event touched can have changed since the last render. */
  private blindNodes(model: ObserverModel, fresh: FreshServices): string {
    let b = this.blind;
    const touched: Iterable<string> = b?.nodes === model.nodes ? fresh.nodes : Object.keys(model.nodes);
    if (b?.nodes !== model.nodes) b = this.blind = { nodes: model.nodes, since: new Map(), text: '' };
    let moved = false;
    for (const name of touched) {
      const n = model.nodes[name];
      const since = n?.engine === 'unreachable' ? (n.engine_since ?? '') : undefined;
      if (b.since.get(name) === since) continue;
      if (since === undefined) b.since.delete(name);
      else b.since.set(name, since);
      moved = true;
    }
    if (moved) b.text = [...b.since].map(([name, since]) => `${name}@${since}\n`).join('');
    return b.text;
  }

  private forgetNodes(): void {
    this.nodeMemo.until.clear();
    this.nodeMemo.due = Number.NEGATIVE_INFINITY;
    delete this.nodeMemo.desired;
  }

  private nodes(model: ObserverModel, desired: DesiredState, cfg: RenderConfig & ObserveConfig, now: number, fresh: FreshServices, prev: World['nodes'] | undefined): World['nodes'] {
    if (this.nodesOf?.nodes !== model.nodes || this.nodesOf.cfg !== cfg) {
      this.forgetNodes();
      this.nodesOf = { nodes: model.nodes, cfg };
    }
    this.nodeMemo.touched = fresh.nodes;
    const nodes = renderNodes(model, desired, cfg, now, prev, this.nodeMemo);
    const changed = nodes === prev ? (this.nodeMemo.changed ?? 'all') : 'all';
    if (changed === 'all' || changed.length > 0) this.nodeChanges.note(changed);
    return nodes;
  }

  render(model: ObserverModel, desired: DesiredState, cfg: RenderConfig & ObserveConfig, now: number, fresh: FreshServices): World {
    const blind = this.blindNodes(model, fresh);
    const l = this.last;
    if (l && l.services === model.services && l.desired === desired && l.cfg === cfg && l.blind === blind && now <= l.nextPruneAt && fresh.changed.every((k) => k in l.world.services && model.nodes[nodeOfKey(k)]?.engine !== 'unreachable')) {
      // In place: a copy of 50 000 entries per event costs more than the rest of the render.
      const services = l.world.services;
      if (fresh.changed.length > 0) {
        for (const k of fresh.changed) services[k] = model.services[k]!;
        this.changed(fresh.changed);
        this.stats.patched++;
      } else {
        this.stats.kept++;
        this.lastChange = [];
      }
      const world = { services, nodes: this.nodes(model, desired, cfg, now, fresh, l.world.nodes) };
      this.last = { ...l, world };
      return world;
    }
    this.stats.whole++;
    this.changed('all');
    const r = renderServices(model, desired, cfg, now);
    const world = { services: r.services, nodes: this.nodes(model, desired, cfg, now, fresh, this.last?.world.nodes) };
    this.last = { services: model.services, desired, cfg, blind, nextPruneAt: r.nextPruneAt, world };
    return world;
  }
}


