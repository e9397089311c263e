// The read-only page: one server-rendered HTML document, no external assets. Every value that
// came from a file or an event is escaped.
import { createHash } from 'node:crypto';
import type { Action } from '../domain/actions.js';
import { evidenceFacts, type Evidence } from '../store/evidence.js';
import { ago, type Summary } from '../domain/summary.js';
import type { WorldService } from '../domain/schemas.js';

export function h(s: unknown): string {
  return String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const CSS = `
:root{--bg:#f6f7f9;--fg:#1d2330;--muted:#6b7280;--card:#fff;--line:#e5e7eb;--bad:#b91c1c;--badbg:#fef2f2;--ok:#15803d;--warn:#b45309;--warnbg:#fffbeb}
@media (prefers-color-scheme:dark){:root{--bg:#0f1115;--fg:#e5e7eb;--muted:#9ca3af;--card:#171a21;--line:#2a2f3a;--bad:#f87171;--badbg:#2a1414;--ok:#4ade80;--warn:#fbbf24;--warnbg:#2a2210}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;justify-content:space-between;padding:1rem 1.25rem;background:var(--card);border-bottom:1px solid var(--line);position:sticky;top:0}
h1{font-size:1.15rem;margin:0}h2{font-size:1rem;margin:1.5rem 0 .5rem}main{max-width:1100px;margin:0 auto;padding:0 1rem 2rem}
.muted{color:var(--muted)}.pill{display:inline-block;padding:.1rem .55rem;border-radius:999px;font-size:.8rem;border:1px solid var(--line);white-space:nowrap}
.ok{color:var(--ok)}.badtxt{color:var(--bad)}.warntxt{color:var(--warn)}.why{overflow-wrap:anywhere;font-size:.85rem}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:.75rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.75rem .9rem}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}td:first-child{overflow-wrap:anywhere}td.nw{white-space:nowrap}th{font-size:.8rem;color:var(--muted);font-weight:600}
tr.bad td{background:var(--badbg)}tr.bad td:first-child{border-left:4px solid var(--bad)}
.notice{background:var(--warnbg);border:1px solid var(--line);border-left:4px solid var(--warn);border-radius:8px;padding:.6rem .8rem;margin:.4rem 0}
button{font:inherit;padding:.45rem .9rem;border-radius:8px;border:1px solid var(--line);background:var(--fg);color:var(--bg);cursor:pointer}
code{font-size:.85em}
tr.evidence td{padding-top:0}details summary{cursor:pointer;font-size:.85rem;color:var(--muted)}details pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.78rem;margin:.3rem 0;max-height:20rem;overflow-y:auto}
@media (max-width:640px){.hide-sm{display:none}th,td{padding:.4rem .45rem}header{padding:.75rem}}
`;

const SCRIPT = `
const btn = document.getElementById('copy-ai');
btn.addEventListener('click', async () => {
  try {
    const res = await fetch('/ai-context', { cache: 'no-store' });
    const text = await res.text();
    await navigator.clipboard.writeText(text);
    btn.textContent = 'Copied ✓';
  } catch (e) {
    btn.textContent = 'Copy failed';
  }
  setTimeout(() => { btn.textContent = 'Copy for AI'; }, 2500);
});
setInterval(() => { if (document.visibilityState === 'visible') location.reload(); }, 10000);
`;

function actionRow(a: { id: string; type: string; risk: string; trigger: string; state: string; updated_at: string; error?: string; cancel_reason?: string; verified?: unknown }, now: number): string {
  // A long error wraps below the state: it must never widen the page.
  const outcome = a.error ? `<div class="why badtxt">${h(a.error)}</div>` : a.cancel_reason ? ` <span class="muted">${h(a.cancel_reason)}</span>` : a.verified === false ? ' <span class="badtxt">still unhealthy</span>' : a.verified === true ? ' <span class="ok">verified</span>' : '';
  return `<tr class="${a.state === 'failed' ? 'bad' : ''}"><td><code>${h(a.id)}</code></td><td>${h(a.type.replace(/_/g, ' '))} <span class="pill">${h(a.risk)}</span></td><td class="hide-sm why">${h(a.trigger)}</td><td><b>${h(a.state)}</b>${outcome}</td><td class="hide-sm nw">${h(ago(a.updated_at, now))}</td></tr>`;
}

/** Green only when nothing is unhealthy, missing or unknown; otherwise each of those counted. */
function headerPills(s: Summary): string {
  const v = s.services;
  const all = v.total + v.missing;
  if (v.unhealthy + v.missing + v.unknown === 0) return `<span class="pill ok">${v.healthy}/${all} healthy</span>`;
  const bad = [
    v.unhealthy ? `<span class="pill badtxt">${v.unhealthy} unhealthy</span>` : '',
    v.missing ? `<span class="pill badtxt">${v.missing} missing</span>` : '',
    v.unknown ? `<span class="pill warntxt">${v.unknown} unknown</span>` : '',
  ].filter(Boolean);
  return `${bad.join(' ')} <span class="pill">${v.healthy}/${all} healthy</span>`;
}

/** A node with nothing to watch is not a silent agent to worry about. */
function agentPill(n: Summary['nodes'][number]): string {
  if (n.agent === 'silent' && !n.watched) return '<span class="pill muted">no services watched</span>';
  return `<span class="pill ${n.agent === 'alive' ? 'ok' : 'badtxt'}">agent ${h(n.agent)}</span>`;
}

/** An open action's evidence, folded under its row (the page stays read-only and script-free for it). */
function evidenceRow(e: Evidence | undefined): string {
  if (!e) return '';
  const logs = e.containers.filter((c) => c.logs.length > 0).map((c) => `<div class="muted">${h(c.name)}: last ${c.logs.length} log lines</div><pre>${h(c.logs.join('\n'))}</pre>`);
  return `<tr class="evidence"><td colspan="5"><details><summary>🔎 ${h(evidenceFacts(e).join('; ') || 'no containers named')} (read ${h(e.collected_at.slice(11, 19))} UTC)</summary>${logs.join('') || '<div class="muted">no log lines</div>'}</details></td></tr>`;
}

/** `'sha256-…'` of an inline script or style, for the page's Content-Security-Policy. */
function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/**
 * The page's policy: its one inline style and one inline script by hash (the page is the same
 * bytes for every request until the state changes, so a per-request nonce cannot be used), and
 * nothing else from anywhere.
 */
export const PAGE_CSP = `default-src 'none'; script-src ${cspHash(SCRIPT)}; style-src ${cspHash(CSS)}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

export function renderPage(s: Summary, world: { services: Record<string, WorldService> }, recent: Action[], now: number, evidence: ReadonlyMap<string, Evidence> = new Map()): string {
  const services = Object.entries(world.services).map(([key, v]) => ({ key, ...v }));
  const missing = s.services.missing_list.map((m) => ({ key: m.key, node: m.node, service: m.service, status: 'missing', reason: 'no report yet', since: '', last_event_at: '' }));
  const rows = [...services.filter((x) => x.status !== 'healthy'), ...missing, ...services.filter((x) => x.status === 'healthy')];
  const open = [...s.actions.pending, ...s.actions.approved, ...s.actions.running];
  const c = s.actions.counts;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Homelab control plane</title><style>${CSS}</style></head>
<body>
<header><div><h1>Homelab control plane</h1><div class="muted">updated ${h(s.generated_at.slice(0, 19).replace('T', ' '))} UTC · refreshes every 10 s</div></div>
<div id="counts">${headerPills(s)} <span class="pill">${c.pending} pending</span>
<button id="copy-ai" type="button">Copy for AI</button></div></header>
<main>
${s.notices.length || s.config_errors.length ? `<h2>Notices</h2>${s.notices.map((n) => `<div class="notice"><b>${h(n.kind)}</b> · ${h(n.node)}: ${h(n.message)}</div>`).join('')}${s.config_errors.map((e) => `<div class="notice"><b>hosts/</b> ${h(e.file)}:${h(e.line)}: ${h(e.reason)}</div>`).join('')}` : ''}
<h2>Nodes</h2>
<div class="grid">${s.nodes
    .map(
      (n) => `<div class="card" data-node="${h(n.node)}"><b>${h(n.node)}</b> ${agentPill(n)}${n.engine === 'unreachable' ? ` <span class="pill badtxt">engine unreachable</span>` : ''}
<div class="muted">last event ${h(ago(n.last_seen, now))}${n.engine === 'unreachable' ? ` · engine unreachable since ${h(ago(n.engine_since, now))}` : ''}</div>
<div>${n.services.healthy}/${n.services.total} healthy${n.services.unknown ? `, <span class="warntxt">${n.services.unknown} unknown</span>` : ''}${n.services.missing ? `, ${n.services.missing} missing` : ''}${n.disk_pressure === 'high' ? ` · <span class="badtxt">disk ${h(n.disk_used_pct ?? '?')}%</span>` : ''}</div></div>`,
    )
    .join('')}</div>
<h2>Services</h2>
<table id="services"><thead><tr><th>service</th><th>status</th><th class="hide-sm">reason</th><th>since</th></tr></thead><tbody>
${rows
    .map(
      (r) =>
        `<tr class="${r.status === 'healthy' || r.status === 'unknown' ? '' : 'bad'}" data-key="${h(r.key)}"><td><b>${h(r.service)}</b> <span class="muted">on ${h(r.node)}</span></td><td class="nw ${r.status === 'healthy' ? 'ok' : r.status === 'unknown' ? 'warntxt' : 'badtxt'}">${h(r.status)}</td><td class="hide-sm">${h(r.reason ?? '')}</td><td class="nw">${r.since ? h(ago(r.since, now)) : ''}</td></tr>`,
    )
    .join('\n') || '<tr><td colspan="4" class="muted">No services reported yet.</td></tr>'}
</tbody></table>
${s.dependencies.length ? `<h2>Dependencies</h2>
<table id="dependencies"><thead><tr><th>service</th><th>depends on</th><th>from</th></tr></thead><tbody>
${s.dependencies.map((d) => `<tr><td><b>${h(d.service)}</b> <span class="muted">on ${h(d.node)}</span></td><td>${d.on === null ? `<span class="muted">${h(d.container ?? '?')} (not in services.yaml: not acted on)</span>` : h(d.on)}</td><td class="nw">${d.source === 'engine' ? `engine (${h(d.how ?? 'link')})` : 'services.yaml'}</td></tr>`).join('\n')}
</tbody></table>` : ''}
${s.heal_budgets.length ? `<h2>Restart budgets</h2>
<table id="budgets"><thead><tr><th>service</th><th>heals used</th><th>next automatic heal</th></tr></thead><tbody>
${s.heal_budgets.map((b) => `<tr class="${b.spent ? 'bad' : ''}"><td><b>${h(b.service)}</b> <span class="muted">on ${h(b.node)}</span></td><td class="nw">${b.used} of ${b.attempts}</td><td class="nw">${b.spent ? '<span class="badtxt">spent: a person decides</span>' : b.next_at ? `not before ${h(b.next_at.slice(11, 16))} UTC` : 'any time'}</td></tr>`).join('\n')}
</tbody></table>` : ''}
<h2>Open actions</h2>
<table><thead><tr><th>action</th><th>type</th><th class="hide-sm">trigger</th><th>state</th><th class="hide-sm">updated</th></tr></thead><tbody>
${open.map((a) => actionRow(a, now) + evidenceRow(evidence.get(`${a.id}@${a.instance}`))).join('\n') || '<tr><td colspan="5" class="muted">Nothing waits for a decision.</td></tr>'}
</tbody></table>
<h2>Recent actions</h2>
<table><thead><tr><th>action</th><th>type</th><th class="hide-sm">trigger</th><th>outcome</th><th class="hide-sm">when</th></tr></thead><tbody>
${recent.map((a) => actionRow(a, now)).join('\n') || '<tr><td colspan="5" class="muted">None in the last 7 days.</td></tr>'}
</tbody></table>
<p class="muted">Read-only. Approve from Telegram, with <code>control-plane actions approve &lt;id&gt;</code>, or by moving the file to <code>actions/approved/</code>. JSON: <a href="/summary">/summary</a> · <a href="/world/services.json">/world/services.json</a> · <a href="/actions">/actions</a> · <a href="/metrics">/metrics</a></p>
</main>
<script>${SCRIPT}</script>
</body></html>`;
}
