// A web server over a temp HOMELAB_ROOT with a hand-made world, for API and browser tests.
import { nodesWithAgentsRunning } from '../../src/domain/agents-running.js';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { buildServer } from '../../src/api/server.js';
import { EvidenceStore } from '../../src/store/evidence.js';
import { Metrics } from '../../src/api/metrics.js';
import type { RunnerStatus } from '../../src/loops/runner.js';
import { ActionStore } from '../../src/store/actions.js';
import { ensureLayout, layout, type Layout } from '../../src/store/paths.js';
import { SupervisorState } from '../../src/store/supervisor-state.js';
import { currentSummary } from '../../src/status.js';
import type { DesiredState, World } from '../../src/domain/schemas.js';
import { desiredState } from './desired.js';
import { memoryLogger } from './helpers.js';

export const XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', '</script><script>alert(3)</script>'];

export function worldFixture(now: number, hostile = true): World {
  const iso = (s: number) => new Date(now - s * 1000).toISOString();
  const svc = (node: string, service: string, status: 'healthy' | 'unhealthy', reason: string | null) => ({
    node,
    service,
    status,
    reason,
    since: iso(300),
    last_event_at: iso(60),
    last_healthy_at: status === 'healthy' ? iso(60) : null,
    last_incident: null,
    changes: [],
  });
  const node = (name: string) => ({
    node: name,
    last_seen: iso(30),
    last_event_type: 'node_heartbeat',
    disk_pressure: 'normal' as const,
    disk_used_pct: 41,
    disk_updated_at: iso(3600),
    events_applied: 10,
    events_unknown: 0,
    engine: 'reachable' as const,
    engine_since: iso(120),
    agent: 'alive' as const,
  });
  const services: World['services'] = {
    'chelsty-infra/zigbee2mqtt': svc('chelsty-infra', 'zigbee2mqtt', 'unhealthy', 'containers_not_running'),
    'chelsty-infra/mosquitto': svc('chelsty-infra', 'mosquitto', 'healthy', null),
    'piha/webui': svc('piha', 'webui', 'healthy', null),
  };
  // Names no event could carry, as a hand-edited or mirrored world file might: shown as text only.
  if (hostile) for (const [i, x] of XSS.entries()) services[`${x}/${x}`] = svc(x, x, i === 0 ? 'unhealthy' : 'healthy', i === 0 ? x : null);
  return { services, nodes: { 'chelsty-infra': node('chelsty-infra'), piha: node('piha'), ...(hostile ? { [XSS[1]!]: node(XSS[1]!) } : {}) } };
}

/** A pending container_restart as the supervisor would propose it. */
export function restartDraft(service: string, id = `container-restart-chelsty-infra-${service}`) {
  return {
    id,
    instance: '20260527T140000Z',
    type: 'container_restart' as const,
    risk: 'low' as const,
    node: 'chelsty-infra',
    service,
    drift: 'unhealthy_service' as const,
    trigger: 'containers_not_running',
    containers: [service],
    drift_since: null,
  };
}

export interface ApiFixture {
  l: Layout;
  app: ReturnType<typeof buildServer>;
  actions: ActionStore;
  runners: RunnerStatus[];
  mem: ReturnType<typeof memoryLogger>;
  evidence: EvidenceStore;
}

export async function apiFixture(
  root: string,
  opts: {
    ingestTokens?: Record<string, string>;
    now?: number | (() => number);
    hostile?: boolean;
    world?: (w: World) => World;
    desired?: (d: DesiredState) => DesiredState;
    /** Bodies cached per generation (as main does); absent: built per request. */
    generation?: () => number;
    /** Told of each summary computed. */
    onSummary?: () => void;
  } = {},
): Promise<ApiFixture> {
  const fixed = Date.now();
  const clock = typeof opts.now === 'function' ? opts.now : () => (opts.now as number | undefined) ?? fixed;
  const now = clock();
  const l = layout(root);
  await ensureLayout(l);
  const world = (opts.world ?? ((w) => w))(worldFixture(now, opts.hostile ?? true));
  await writeFile(l.worldServices, `${JSON.stringify(world.services, null, 2)}\n`);
  await writeFile(l.worldNodes, `${JSON.stringify(world.nodes, null, 2)}\n`);
  const actions = new ActionStore(l.actions, () => now);
  await actions.ensureDirs();
  const supervisorState = new SupervisorState(l.state);
  await supervisorState.ensureDirs();
  const desired: DesiredState = (opts.desired ?? ((d) => d))(desiredState({ 'chelsty-infra': { zigbee2mqtt: {}, mosquitto: {} } }));
  const runners: RunnerStatus[] = [
    { name: 'observer', passes: 3, failures: 0, consecutiveFailures: 0, lastSuccessAt: now, lastDurationMs: 4, lastError: null, lastErrorCode: null, intervalMs: 30_000 },
    { name: 'supervisor', passes: 3, failures: 0, consecutiveFailures: 0, lastSuccessAt: now, lastDurationMs: 2, lastError: null, lastErrorCode: null, intervalMs: 30_000 },
  ];
  const mem = memoryLogger();
  const status = {
    world: () => world,
    desired: () => desired,
    desiredProblems: () => [],
    actions,
    supervisorState,
    observerCounters: () => ({ applied: 10, malformed: 2, duplicate: 0, unknown: 1, oversized: 0 }),
    now: clock,
  };
  const evidence = new EvidenceStore(path.join(l.actions, 'evidence'));
  const exposition = new Metrics();
  exposition.observeAction('container_restart', 1.5);
  const app = buildServer({
    exposition,
    layout: l,
    actions,
    log: mem.log,
    now: clock,
    summary: () => {
      opts.onSummary?.();
      return currentSummary(status);
    },
    ...(opts.generation ? { generation: opts.generation } : {}),
    runners: () => runners,
    metrics: async () => ({
      version: '0.1.0',
      observer: status.observerCounters(),
      services: world.services,
      nodes: world.nodes,
      missing: 1,
      executor: { started: 1, completed: 1, failed: 0, refused: 0 },
      notices_open: 0,
    }),
    ingestTokens: opts.ingestTokens ?? {},
    agentsRunning: () => nodesWithAgentsRunning(world),
    aliases: { 'node-2': 'chelsty-infra' },
    ingestBodyLimit: 256 * 1024,
    evidence: (id, instance) => evidence.read(id, instance),
  });
  return { l, app, actions, runners, mem, evidence };
}
