// Maintenance (docs/operator/maintenance.md): windows in services.yaml (node-wide under `docker:`
// and per service) and ad hoc ones an operator starts (`control-plane maintenance start`,
// /maintenance). During one the world is still observed and recorded; nothing is proposed or
// approved by policy but an image update of `updates: auto`, and the chat hears one notice when
// it starts and one when it ends, summarising what happened meanwhile. Pure.
import type { DesiredState, World } from './schemas.js';
import type { Silence } from './silences.js';
import { inAnyInterval, windowEnd, type TimeInterval } from './time-intervals.js';

export interface Maintenance {
  /** `node` or `node/service`. */
  target: string;
  source: 'services.yaml' | 'ad hoc';
  /** When it ends, when known (a window may reach beyond the days looked at). */
  until: string | null;
  reason?: string;
  by?: string;
}

/**
 * The maintenance in force for a node (service null) or one of its services now, if any: the
 * node's own first (it covers every service), then the service's.
 */
export function maintenanceOf(desired: DesiredState, adHoc: readonly Silence[], node: string, service: string | null, now: number): Maintenance | undefined {
  const dn = desired[node];
  const targets = service === null ? [node] : [node, `${node}/${service}`];
  for (const target of targets) {
    const a = adHoc.find((w) => w.target === target && Date.parse(w.until) > now);
    if (a) return { target, source: 'ad hoc', until: a.until, ...(a.reason ? { reason: a.reason } : {}), ...(a.by ? { by: a.by } : {}) };
    const windows = target === node ? dn?.maintenance : dn?.services[service!]?.maintenance;
    if (windows?.length && inAnyInterval(windows, now)) {
      const end = endOf(windows, now);
      return { target, source: 'services.yaml', until: end === undefined ? null : new Date(end).toISOString() };
    }
  }
  return undefined;
}

/**
 * When the window holding `now` ends. Every minute from where it was last worked out to that end
 * is inside the windows, so the same end holds until then: each pass does not scan the window's
 * minutes again (a weekend-long window is thousands of them).
 */
const ends = new WeakMap<readonly TimeInterval[], { from: number; end: number | undefined }>();
function endOf(windows: readonly TimeInterval[], now: number): number | undefined {
  const known = ends.get(windows);
  if (known?.end !== undefined && known.from <= now && now < known.end) return known.end;
  const end = windowEnd(windows, now);
  ends.set(windows, { from: now, end });
  return end;
}

/** Whether the node has windows of its own in services.yaml (then `updates: auto` waits for them). */
export function hasWindows(desired: DesiredState, node: string): boolean {
  return (desired[node]?.maintenance.length ?? 0) > 0;
}

/** The notice while it lasts: one per target, said once (its revision changes only with its end). */
export function maintenanceMessage(m: Maintenance): string {
  const until = m.until ? `until ${m.until.slice(0, 16).replace('T', ' ')} UTC` : 'for now';
  const who = m.source === 'ad hoc' ? `started by ${m.by ?? 'an operator'}${m.reason ? `: ${m.reason}` : ''}` : 'a window in services.yaml';
  return `Maintenance on ${m.target} ${until}, ${who}. Its services are still watched and recorded; nothing is proposed or messaged until it ends${m.source === 'services.yaml' ? ' (image updates with updates: auto go ahead)' : ''}. The end is announced with what happened.`;
}

/**
 * What happened to the target's services during a maintenance from `from` to `now`, in words:
 * the incidents that began and ended inside it, and what still drifts (proposed at once).
 */
export function maintenanceSummary(world: World, desired: DesiredState, target: string, from: string, now: number): string {
  const [node, service] = target.split('/') as [string, string | undefined];
  const services = Object.values(desired[node]?.services ?? {}).filter((s) => s.monitor && (service === undefined || s.service === service));
  const recovered: string[] = [];
  const still: string[] = [];
  for (const s of services) {
    const w = world.services[`${node}/${s.service}`];
    if (!w) continue;
    if (w.status === 'unhealthy') still.push(`${s.service} (${w.reason ?? 'unhealthy'} since ${w.since.slice(11, 16)} UTC)`);
    else if (w.last_incident && w.last_incident.resolved_at >= from) recovered.push(`${s.service} (${w.last_incident.reason ?? 'down'} ${w.last_incident.started_at?.slice(11, 16) ?? '?'}–${w.last_incident.resolved_at.slice(11, 16)} UTC)`);
  }
  const minutes = Math.max(0, Math.round((now - Date.parse(from)) / 60_000));
  const parts = [`Maintenance on ${target} ended after ${minutes} min.`];
  parts.push(recovered.length ? `Down and back during it: ${recovered.join(', ')}.` : 'Nothing went down and came back during it.');
  parts.push(still.length ? `Still drifting, proposed now: ${still.join(', ')}.` : 'Everything is healthy.');
  return parts.join(' ');
}
