// "While I was away" (docs/operator/telegram.md): what the start message says after a gap — the
// services whose status the events applied at start changed, in words. Pure.
import type { World } from './schemas.js';

export interface AwayChange {
  key: string;
  from: string;
  to: string;
  /** When (event time) the service reached its status now. */
  since: string;
}

/** The services whose status differs between the world at the last stop and the world now. */
export function awayChanges(before: World, after: World): AwayChange[] {
  const out: AwayChange[] = [];
  for (const [key, s] of Object.entries(after.services)) {
    const was = before.services[key];
    const from = was ? (was.status === 'unhealthy' ? `unhealthy (${was.reason ?? '?'})` : was.status) : 'not reported';
    const to = s.status === 'unhealthy' ? `unhealthy (${s.reason ?? '?'})` : s.status;
    if (from !== to) out.push({ key, from, to, since: s.since });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

export interface StartFacts {
  version: string;
  nodes: number;
  services: number;
  pending: number;
  /** Since when the control plane was not running (its last sign of life), when known. */
  awaySince: string | null;
  changes: readonly AwayChange[];
  /** Starts not announced since the last message (a crash loop says one message with a count). */
  restarts: number;
}

/** The start message, plain words (the bot escapes and sends it without a sound). */
export function startMessage(f: StartFacts, now: number): string[] {
  const lines = [`▶️ Control plane ${f.version} started: ${f.nodes} node(s), ${f.services} service(s), ${f.pending} action(s) pending.`];
  if (f.restarts > 0) lines.push(`It started ${f.restarts + 1} times in the last minutes: is it crashing? See its log.`);
  if (f.awaySince) {
    const minutes = Math.max(0, Math.round((now - Date.parse(f.awaySince)) / 60_000));
    lines.push(`While it was away (${minutes} min since ${f.awaySince.slice(0, 16).replace('T', ' ')} UTC):`);
    if (f.changes.length === 0) lines.push('• nothing changed');
    for (const c of f.changes.slice(0, 15)) lines.push(`• ${c.key}: ${c.from} → ${c.to}`);
    if (f.changes.length > 15) lines.push(`• … and ${f.changes.length - 15} more`);
  }
  return lines;
}
