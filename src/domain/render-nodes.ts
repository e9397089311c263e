// The world's nodes (docs/design/observer.md, "Rendering"): one per canonical node of the model,
// alive or silent by the clock, and the desired nodes never heard of. A node that reads as it did
// in the last render is that object again; one no event touched since is not looked at until the
// clock reaches the time it reads otherwise (world-render.ts keeps that memo). With the same
// names, the last render's record is changed in place (a changed node is a new object in it).
import { agentsRunning } from './agents-running.js';
import { byKey, canonicalNode, emptyNode, type ObserveConfig, type ObserverModel, type RenderConfig } from './observe.js';
import type { DesiredState, NodeState, World } from './schemas.js';

/** The world's nodes: each node of the model (canonical), alive or silent by the clock, and the desired ones never heard of. */
export function renderNodes(model: ObserverModel, desired: DesiredState, cfg: RenderConfig & ObserveConfig, now: number, prev?: World['nodes'], memo?: NodeMemo): World['nodes'] {
  if (memo) memo.changed = [];
  if (prev && memo && memo.desired === desired && now <= memo.due) {
    const out = touchedOnly(model, cfg, now, prev, memo);
    if (out) return out;
  }
  const nodes: [string, World['nodes'][string]][] = [];
  const seen = new Set<string>();
  // A node that reads as it did in `prev` is that object again (no copy of a thousand nodes per
  // render; whoever compares nodes sees the same one).
  let kept = 0;
  let due = Infinity;
  for (const name in model.nodes) {
    const n = model.nodes[name]!;
    const p = prev?.[name];
    // No event since `prev` was rendered, and the clock not yet where it reads otherwise: `prev`'s.
    const until = memo?.until.get(name);
    if (p && memo && !memo.touched.has(name) && until !== undefined && now <= until) {
      seen.add(name);
      nodes.push([name, p]);
      kept++;
      if (until < due) due = until;
      continue;
    }
    memo?.until.delete(name);
    if (canonicalNode(name, cfg) !== name) continue;
    seen.add(name);
    const node = renderNode(name, n, cfg, now, p, memo);
    if (memo) due = Math.min(due, memo.until.get(name)!);
    if (node === p) kept++;
    nodes.push([name, node]);
  }
  for (const name of Object.keys(desired)) {
    if (seen.has(name)) continue;
    const p = prev?.[name];
    if (p && p.agent === 'silent' && sameFields(emptyNode(name), p)) {
      nodes.push([name, p]);
      kept++;
    } else nodes.push([name, { ...emptyNode(name), agent: 'silent' }]);
  }
  if (memo) {
    memo.desired = desired;
    memo.due = due;
  }
  if (prev) {
    let count = 0;
    for (const _ in prev) count++;
    if (count === nodes.length && kept === count) return prev;
    // The same names as `prev`: its record, in place (as the world's services are: a copy of a
    // thousand entries per event costs more than the render), the nodes that changed put in.
    if (count === nodes.length && nodes.every(([name]) => name in prev)) {
      for (const [name, node] of nodes) {
        if (prev[name] === node) continue;
        prev[name] = node;
        if (Array.isArray(memo?.changed)) memo.changed.push(name);
      }
      return prev;
    }
  }
  if (memo) memo.changed = 'all';
  return byKey(nodes);
}

/**
 * The nodes an event touched, rendered again into `prev`, when nothing else can read otherwise:
 * the desired state is the one of the last render and the clock has not reached any node's time
 * (the caller checks both), and every touched node is one `prev` has. Undefined when a touched
 * node is new (the whole loop adds it in its place).
 */
function touchedOnly(model: ObserverModel, cfg: RenderConfig & ObserveConfig, now: number, prev: World['nodes'], memo: NodeMemo): World['nodes'] | undefined {
  for (const name of memo.touched) if (canonicalNode(name, cfg) === name && !(name in prev && model.nodes[name])) return undefined;
  for (const name of memo.touched) {
    if (canonicalNode(name, cfg) !== name) continue;
    const p = prev[name];
    const node = renderNode(name, model.nodes[name]!, cfg, now, p, memo);
    memo.due = Math.min(memo.due, memo.until.get(name)!);
    if (node === p) continue;
    prev[name] = node;
    if (Array.isArray(memo.changed)) memo.changed.push(name);
  }
  return prev;
}

/** One node of the model as the world shows it: `p` again when it reads the same. */
function renderNode(name: string, n: NodeState, cfg: RenderConfig & ObserveConfig, now: number, p: World['nodes'][string] | undefined, memo: NodeMemo | undefined): World['nodes'][string] {
  memo?.until.set(name, readsSameUntil(n, now, cfg.agentSilentAfterS));
  const alive = n.last_seen !== null && Date.parse(n.last_seen) >= now - cfg.agentSilentAfterS * 1000;
  const running = agentsRunning(n, now, cfg.agentSilentAfterS);
  const agent = alive ? 'alive' : 'silent';
  if (p && p.agent === agent && (p.agents_running ?? []).join('\n') === (running ?? []).join('\n') && sameFields(n, p)) return p;
  return { ...n, agent, ...(running ? { agents_running: running } : {}) };
}

/**
 * What renderNodes may skip: the nodes an event touched since the last render (`touched`), and
 * until when each other node reads as rendered (`until`: its agent goes silent, an instance of it
 * stops counting as running). `due` is the earliest of those times (or earlier) and `desired` the
 * desired state of the last render: before `due`, with that desired state, only the touched nodes
 * are looked at.
 */
export interface NodeMemo {
  touched: ReadonlySet<string>;
  until: Map<string, number>;
  due: number;
  desired?: DesiredState;
  /** What the last render changed: the names whose node object it replaced in place, or 'all' (a new record). */
  changed?: string[] | 'all';
}

/** Until when a node reads the same by the clock alone (renderNodes: alive, agents running). */
function readsSameUntil(n: NodeState, now: number, silentAfterS: number): number {
  let until = Infinity;
  const seen = n.last_seen === null ? NaN : Date.parse(n.last_seen) + silentAfterS * 1000;
  if (seen >= now) until = seen;
  for (const a of Object.values(n.agents ?? {})) {
    const end = Date.parse(a.last) + Math.max(3 * (a.interval_s ?? 0), silentAfterS) * 1000;
    if (end >= now && end < until) until = end;
  }
  return until;
}

/** Whether a rendered node holds exactly the model node's fields (besides what rendering adds). */
function sameFields(n: NodeState, p: World['nodes'][string]): boolean {
  let count = 0;
  for (const key in n) {
    count++;
    if ((n as Record<string, unknown>)[key] !== (p as Record<string, unknown>)[key]) return false;
  }
  let other = 0;
  for (const key in p) if (key !== 'agent' && key !== 'agents_running') other++;
  return other === count;
}
