// The world's nodes (docs/design/observer.md, "Rendering"): one per canonical node of the model,
// alive or silent by the clock, and the desired nodes never heard of. A node that reads as it did
// in the last render is that object again; one no event touched since is not looked at until the
// clock reaches the time it reads otherwise (world-render.ts keeps that memo).
import { agentsRunning } from './agents-running.js';
import { byKey, canonicalNode, emptyNode, type ObserveConfig, type ObserverModel, type RenderConfig } from './observe.js';
import type { DesiredState, NodeState, World } from './schemas.js';

/** The world's nodes: each node of the model (canonical), alive or silent by the clock, and the desired ones never heard of. */
export function renderNodes(model: ObserverModel, desired: DesiredState, cfg: RenderConfig & ObserveConfig, now: number, prev?: World['nodes'], memo?: NodeMemo): World['nodes'] {
  const silentBefore = now - cfg.agentSilentAfterS * 1000;
  const nodes: [string, World['nodes'][string]][] = [];
  const seen = new Set<string>();
  // A node that reads as it did in `prev` is that object again (no copy of a thousand nodes per
  // render; whoever compares nodes sees the same one); the record too when every node is.
  let kept = 0;
  for (const name in model.nodes) {
    const n = model.nodes[name]!;
    const p = prev?.[name];
    // No event since `prev` was rendered, and the clock not yet where it reads otherwise: `prev`'s.
    if (p && memo && !memo.touched.has(name) && now <= (memo.until.get(name) ?? -Infinity)) {
      seen.add(name);
      nodes.push([name, p]);
      kept++;
      continue;
    }
    memo?.until.delete(name);
    if (canonicalNode(name, cfg) !== name) continue;
    seen.add(name);
    memo?.until.set(name, readsSameUntil(n, now, cfg.agentSilentAfterS));
    const alive = n.last_seen !== null && Date.parse(n.last_seen) >= silentBefore;
    const running = agentsRunning(n, now, cfg.agentSilentAfterS);
    const agent = alive ? 'alive' : 'silent';
    if (p && p.agent === agent && (p.agents_running ?? []).join('\n') === (running ?? []).join('\n') && sameFields(n, p)) {
      nodes.push([name, p]);
      kept++;
    } else nodes.push([name, { ...n, agent, ...(running ? { agents_running: running } : {}) }]);
  }
  for (const name of Object.keys(desired)) {
    if (seen.has(name)) continue;
    const p = prev?.[name];
    if (p && p.agent === 'silent' && sameFields(emptyNode(name), p)) {
      nodes.push([name, p]);
      kept++;
    } else nodes.push([name, { ...emptyNode(name), agent: 'silent' }]);
  }
  if (prev) {
    let count = 0;
    for (const _ in prev) count++;
    if (count === nodes.length && kept === count) return prev;
    // The same names as `prev`: its record in its order, the nodes that changed put in (no sort).
    if (count === nodes.length && nodes.every(([name]) => name in prev)) {
      const out = { ...prev };
      for (const [name, node] of nodes) if (out[name] !== node) out[name] = node;
      return out;
    }
  }
  return byKey(nodes);
}

/**
 * What renderNodes may skip: the nodes an event touched since the last render (`touched`), and
 * until when each other node reads as rendered (`until`: its agent goes silent, an instance of it
 * stops counting as running).
 */
export interface NodeMemo {
  touched: ReadonlySet<string>;
  until: Map<string, number>;
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
