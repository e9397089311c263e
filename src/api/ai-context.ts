// "Copy for AI": a markdown brief of the homelab's state, short enough to paste into a chat.
import { dependencyLine } from '../domain/dependencies.js';
import { evidenceFacts, type Evidence } from '../store/evidence.js';
import type { Action } from '../domain/actions.js';
import { ago, type Summary } from '../domain/summary.js';
import type { WorldService } from '../domain/schemas.js';

export const AI_CONTEXT_MAX = 12_000;

export function aiContext(s: Summary, world: { services: Record<string, WorldService> }, recent: Action[], now: number, evidence: ReadonlyMap<string, Evidence> = new Map()): string {
  const out: string[] = [];
  out.push(
    '# Homelab state',
    '',
    `Generated ${s.generated_at} by homelab-control-plane ${s.version}. Docker services on ${s.nodes.length} node(s) are kept in their desired state (hosts/<node>/services.yaml); node agents report events; remediation actions (container_restart, redeploy, disk_cleanup) wait for a human to approve them.`,
    '',
    `Services: ${s.services.total} reported, ${s.services.healthy} healthy, ${s.services.unhealthy} unhealthy, ${s.services.missing} desired but never reported.`,
    `Actions: ${Object.entries(s.actions.counts).map(([k, v]) => `${v} ${k}`).join(', ')}.`,
    '',
    '## Nodes',
  );
  for (const n of s.nodes) {
    out.push(`- ${n.node}: agent ${n.agent}, last event ${ago(n.last_seen, now)}, ${n.services.healthy}/${n.services.total} healthy${n.services.missing ? `, ${n.services.missing} missing` : ''}${n.disk_pressure ? `, disk ${n.disk_pressure}${n.disk_used_pct !== null ? ` (${n.disk_used_pct}% used)` : ''}` : ''}`);
  }
  out.push('', '## Unhealthy services');
  if (s.services.unhealthy_list.length === 0) out.push('None.');
  for (const u of s.services.unhealthy_list) {
    const w = world.services[u.key];
    out.push(`- ${u.key}: ${u.reason ?? 'unhealthy'} since ${u.since} (${ago(u.since, now)}); last event ${w ? ago(w.last_event_at, now) : '?'}; last healthy ${w?.last_healthy_at ?? 'never'}`);
  }
  if (s.services.missing_list.length) {
    out.push('', '## Desired but never reported');
    for (const m of s.services.missing_list) out.push(`- ${m.key}`);
  }
  if (s.dependencies.length) {
    // A root's action brings its dependents back after it (docs/operator/dependencies.md).
    out.push('', '## Dependencies (service → what it depends on, and where that came from)');
    for (const d of s.dependencies) out.push(`- ${dependencyLine(d)}`);
  }
  out.push('', '## Open actions');
  const open = [...s.actions.pending, ...s.actions.approved, ...s.actions.running];
  if (open.length === 0) out.push('None.');
  for (const a of open) {
    out.push(`- ${a.id} (${a.type}, risk ${a.risk}, trigger ${a.trigger}): ${a.state} since ${a.updated_at}`);
    const e = evidence.get(`${a.id}@${a.instance}`);
    if (!e) continue;
    // The evidence, logs included: what an AI needs to help (already redacted at the engine).
    out.push(`  - evidence (read ${e.collected_at}): ${evidenceFacts(e).join('; ') || 'no containers named'}`);
    for (const c of e.containers.filter((x) => x.logs.length > 0)) out.push(`  - last log lines of ${c.name}:`, '', '```', ...c.logs, '```', '');
  }
  out.push('', '## Recent finished actions');
  if (recent.length === 0) out.push('None in the last 7 days.');
  for (const a of recent) {
    const detail = a.error ? `: ${a.error}` : a.cancel_reason ? `: ${a.cancel_reason}` : typeof a.verified === 'boolean' ? (a.verified ? ': verified healthy' : ': restarted but still unhealthy') : '';
    out.push(`- ${a.updated_at} ${a.id}: ${a.state}${detail}`);
  }
  if (s.notices.length || s.config_errors.length) {
    out.push('', '## Notices');
    for (const n of s.notices) out.push(`- ${n.kind} (${n.node}): ${n.message}`);
    for (const e of s.config_errors) out.push(`- hosts/ problem: ${e.file}:${e.line}: ${e.reason}`);
  }
  let text = `${out.join('\n')}\n`;
  if (text.length > AI_CONTEXT_MAX) {
    const lines = text.split('\n');
    let kept = '';
    let i = 0;
    for (; i < lines.length; i++) {
      if (kept.length + lines[i]!.length + 200 > AI_CONTEXT_MAX) break;
      kept += `${lines[i]}\n`;
    }
    text = `${kept}\n[… ${lines.length - i} more lines cut to keep this short enough to paste; the full state is at /summary]\n`;
  }
  return text;
}
