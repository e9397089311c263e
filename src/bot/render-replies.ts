// What the bot answers to commands and lists, as pure functions: /status, /history, /silences,
// /help, the pending list, a diagnosis, the daily digest. The living action messages are render.ts.
import type { Action } from '../domain/actions.js';
import type { Diagnosis } from '../domain/diagnose.js';
import type { Digest } from '../domain/digest.js';
import type { Silence } from '../domain/silences.js';
import { ago, type BriefAction, type Summary } from '../domain/summary.js';
import { esc, formatBytes, hhmm, stateLine, type Rendered, type Buttons, type Button, type ButtonData } from './render.js';

export function renderStatus(s: Summary, now: number): string {
  const lines = ['📊 <b>Homelab status</b>', ''];
  for (const n of s.nodes) {
    const engineDown = n.engine === 'unreachable';
    const icon = !n.watched ? '⚪' : n.agent !== 'alive' || engineDown ? '🔴' : '🟢';
    const agent = !n.watched && n.agent === 'silent' ? 'no services watched' : `agent ${n.agent}${engineDown ? `, <b>engine unreachable</b> since ${ago(n.engine_since, now)}` : ''}`;
    const disk = n.disk_pressure === 'high' ? ` · 💾 disk ${n.disk_used_pct ?? '?'}%` : '';
    lines.push(`${icon} <b>${esc(n.node)}</b>: ${agent}, last event ${ago(n.last_seen, now)} · ${n.services.healthy}/${n.services.total} healthy${n.services.unknown ? `, ${n.services.unknown} unknown` : ''}${n.services.missing ? `, ${n.services.missing} missing` : ''}${disk}`);
  }
  lines.push('');
  if (s.services.unhealthy_list.length === 0 && s.services.missing_list.length === 0 && s.services.unknown_list.length === 0) lines.push('✅ All services healthy.');
  for (const u of s.services.unhealthy_list) lines.push(`🔴 ${esc(u.key)}: ${esc(u.reason ?? 'unhealthy')} since ${ago(u.since, now)}`);
  const unknownNodes = [...new Set(s.services.unknown_list.map((u) => u.node))];
  for (const node of unknownNodes) lines.push(`🔌 ${esc(node)}: ${s.services.unknown_list.filter((u) => u.node === node).length} service(s) unknown (engine unreachable)`);
  for (const m of s.services.missing_list.slice(0, 20)) lines.push(`❔ ${esc(m.key)}: no report yet`);
  const c = s.actions.counts;
  lines.push('', `Actions: ${c.pending} pending, ${c.approved} approved, ${c.running} running · ${c.completed} completed, ${c.failed} failed, ${c.rejected} rejected, ${c.cancelled} cancelled`);
  if (s.notices.length) lines.push(`Notices: ${s.notices.map((n) => esc(n.key)).join(', ')}`);
  if (s.config_errors.length) lines.push(`⚠️ ${s.config_errors.length} problem(s) in hosts/: run /status after fixing, or control-plane check`);
  if (s.dependencies.length) {
    const learned = s.dependencies.filter((d) => d.source === 'engine').length;
    lines.push(`🔗 ${s.dependencies.length} dependenc${s.dependencies.length === 1 ? 'y' : 'ies'} (${s.dependencies.length - learned} in services.yaml, ${learned} from the engine): ${s.dependencies.slice(0, 6).map((d) => `${esc(d.service)} → ${esc(d.on ?? d.container ?? '?')}`).join(', ')}${s.dependencies.length > 6 ? ', …' : ''}`);
  }
  const spent = s.heal_budgets.filter((b) => b.spent);
  if (spent.length) lines.push(`🚨 restart budget spent: ${spent.map((b) => esc(`${b.node}/${b.service}`)).join(', ')}`);
  if (s.data) lines.push(dataLine(s.data.bytes));
  return lines.join('\n');
}

export function renderHistory(actions: Action[], now: number): string {
  if (actions.length === 0) return 'No finished actions yet.';
  const lines = [`🕘 <b>Last ${actions.length} actions</b>`, ''];
  for (const a of actions) {
    lines.push(`${hhmm(a.updated_at)} (${ago(a.updated_at, now)}) <code>${esc(a.id)}</code>`, `   ${stateLine(a).split('\n')[0]}`);
  }
  return lines.join('\n');
}

export function renderSilences(list: Silence[], now: number, data: (id: string) => string): Rendered {
  if (list.length === 0) return { text: 'No active silences. Add one: /silence &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason]', buttons: [] };
  const lines = ['🔕 <b>Active silences</b>', ''];
  const buttons: Buttons = [];
  for (const s of list) {
    lines.push(`• <b>${esc(s.target)}</b> until ${hhmm(s.until)} (${timeLeft(s.until, now)} left)${s.reason ? `: ${esc(s.reason)}` : ''}`);
    buttons.push([{ text: `Remove ${s.target}`.slice(0, 60), data: data(s.id) }]);
  }
  return { text: lines.join('\n'), buttons };
}

/** /maintenance: the ad hoc windows in force (windows in services.yaml announce themselves). */
export function renderMaintenance(list: Silence[], now: number): Rendered {
  if (list.length === 0) return { text: 'No ad hoc maintenance. Start one: /maintenance &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason] (windows in services.yaml are announced when they start).', buttons: [] };
  const lines = ['🛠 <b>Maintenance</b>', ''];
  for (const s of list) lines.push(`• <b>${esc(s.target)}</b> until ${hhmm(s.until)} (${timeLeft(s.until, now)} left)${s.by ? ` by ${esc(s.by)}` : ''}${s.reason ? `: ${esc(s.reason)}` : ''} · /maintenance stop ${esc(s.target)}`);
  return { text: lines.join('\n'), buttons: [] };
}

/** How long until `iso`: `45s`, `12m`, `3h`, `2d`. */
export function timeLeft(iso: string, now: number): string {
  const s = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export function renderBrief(a: Pick<BriefAction, 'id' | 'type' | 'risk' | 'trigger'>): string {
  return `<code>${esc(a.id)}</code> (${esc(a.type)}, ${esc(a.risk)}) ${esc(a.trigger)}`;
}

export const HELP_TEXT = [
  '🤖 <b>Homelab control plane</b>',
  '',
  'Pending actions arrive here with Approve / Reject buttons; guarded ones ask to Confirm.',
  '',
  '/status: nodes, unhealthy services, actions',
  '/pending: what waits for a decision, with buttons (pressing them is for admins)',
  '/history [n]: the last n finished actions',
  '/silence &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason]: no proposals for a while (e.g. 2h) 🔑',
  '/silence: list silences, with Remove buttons',
  '/maintenance &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason]: quiet until it ends, then a summary 🔑 · /maintenance stop &lt;target&gt; 🔑 · /maintenance: the list',
  '/logs &lt;node&gt;/&lt;service&gt; [lines]: the last log lines of a service services.yaml names 🔑',
  '/recover: replay world, diagnose a flood of pending actions, cancel all pending 🔑',
  '/help: this text',
  '',
  '🔑 changes something: only the admins in TELEGRAM_ADMIN_IDS (anyone in the chat may look).',
].join('\n');

/** A list of actions (/pending, a group's Show each): the counts and the oldest few, or a page of ten. */
export interface ListView {
  title: string;
  members: Action[];
  view: 'summary' | number;
  /** The reference of the guarded action whose Approve was pressed here, or null. */
  confirming: string | null;
  /** A newer list replaced this one: no buttons. */
  superseded: boolean;
}

export const LIST_OLDEST = 5;
export const LIST_PAGE = 10;

/** The buttons of one pending action in a list: Approve/Reject, or Confirm/Back once a guarded one was pressed. */
function listRow(a: Action, ref: string, data: (ref: string) => ButtonData, confirming: string | null, ambiguous: ReadonlySet<string>): Button[] {
  const d = data(ref);
  // A service name that stands on several nodes of the list is shown with its node.
  const name = (a.service ? (ambiguous.has(a.service) ? `${a.node}/${a.service}` : a.service) : a.node).slice(0, 40);
  if (confirming === ref) return [{ text: `⚠️ Confirm ${name}`, data: d('confirm') }, { text: '↩️ Back', data: d('back') }];
  return [{ text: `${a.risk === 'guarded' ? '🛡' : '✅'} ${name}`, data: d('approve') }, { text: '✖️ Reject', data: d('reject') }];
}

function countBy(list: Action[], by: (a: Action) => string): string {
  const m = new Map<string, number>();
  for (const a of list) m.set(by(a), (m.get(by(a)) ?? 0) + 1);
  return [...m].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).map(([k, n]) => `${esc(k)} ${n}`).join(' · ');
}

/**
 * One message however long the list: never more than LIST_PAGE actions with buttons, so never
 * more than 2 × LIST_PAGE + 3 buttons (Telegram allows 100). `refOf` gives an action's reference
 * (refs.ts), `data` the buttons of a reference, `self` the list message's own reference.
 */
export function renderList(l: ListView, refOf: (a: Action) => string, data: (ref: string) => ButtonData, self: string): Rendered {
  const pending = l.members.filter((a) => a.state === 'pending');
  const own = data(self);
  const nodesOf = new Map<string, Set<string>>();
  for (const a of l.members) if (a.service) nodesOf.set(a.service, (nodesOf.get(a.service) ?? new Set()).add(a.node));
  const ambiguous = new Set([...nodesOf].filter(([, n]) => n.size > 1).map(([svc]) => svc));
  const pages = Math.max(1, Math.ceil(l.members.length / LIST_PAGE));
  const buttons: Buttons = [];
  const lines: string[] = [];
  if (l.view === 'summary') {
    lines.push(`⏳ <b>${esc(l.title)}</b>: ${pending.length} pending${l.members.length > pending.length ? ` (${l.members.length - pending.length} decided since)` : ''}`);
    if (pending.length > 0) {
      lines.push(`By node: ${countBy(pending, (a) => a.node)}`, `By type: ${countBy(pending, (a) => a.type)}`, '', pending.length > LIST_OLDEST ? `Oldest ${LIST_OLDEST}:` : 'Waiting:');
      for (const a of pending.slice(0, LIST_OLDEST)) {
        lines.push(`• ${renderBrief(a)} since ${hhmm(a.created_at)}`);
        buttons.push(listRow(a, refOf(a), data, l.confirming, ambiguous));
      }
      const low = pending.filter((a) => a.risk === 'low').length;
      if (low > 0) buttons.push([{ text: `✅ Approve all low-risk (${low})`, data: own('approveLowRisk') }]);
      if (l.members.length > LIST_OLDEST) buttons.push([{ text: `🔍 Show each (${pages} page${pages > 1 ? 's' : ''} of ${LIST_PAGE})`, data: own('page', 0) }]);
    } else lines.push('✅ Nothing in it waits for a decision any more.');
  } else {
    const page = Math.min(l.view, pages - 1);
    lines.push(`⏳ <b>${esc(l.title)}</b>: page ${page + 1} of ${pages} (${pending.length} of ${l.members.length} pending)`, '');
    for (const a of l.members.slice(page * LIST_PAGE, (page + 1) * LIST_PAGE)) {
      lines.push(`• ${renderBrief(a)}`, `   ${stateLine(a).split('\n')[0]}`);
      if (a.state === 'pending') buttons.push(listRow(a, refOf(a), data, l.confirming, ambiguous));
    }
    const nav: Button[] = [];
    if (page > 0) nav.push({ text: '◀️ Previous', data: own('page', page - 1) });
    if (page < pages - 1) nav.push({ text: 'Next ▶️', data: own('page', page + 1) });
    if (nav.length) buttons.push(nav);
  }
  if (l.superseded) return { text: `${lines.join('\n')}\n\n<i>Superseded by a newer list: its buttons are there.</i>`, buttons: [] };
  return { text: lines.join('\n'), buttons };
}

export function renderDiagnosis(d: Diagnosis, now: number): string {
  const lines = ['🩺 <b>Pending-flood diagnosis</b>', ''];
  for (const n of d.nodes) {
    lines.push(`${n.suspect ? '⚠️' : '✅'} <b>${esc(n.node)}</b>: agent ${n.agent}; ${n.reported}/${n.monitored} services reported; last service_healthy ${ago(n.last_healthy, now)}`);
  }
  lines.push(
    '',
    d.suspects
      ? 'Without service_healthy events the supervisor sees services as missing and proposes redeploys. On each ⚠️ node check the node agent: <code>docker ps --filter name=node-agent</code> and <code>docker logs node-agent --tail 20</code>; then cancel the flood from this menu.'
      : 'Every node reports service_healthy: the pending actions reflect real drift.',
  );
  return lines.join('\n');
}

/** What the data under HOMELAB_ROOT takes, by kind (retention's last measure). */
function dataLine(bytes: Readonly<Record<string, number>>): string {
  return `💾 Data: ${Object.entries(bytes).map(([kind, n]) => `${kind} ${formatBytes(n)}`).join(', ')}`;
}

export function renderDigest(d: Digest, now: number): string {
  const lines = [`📰 <b>Digest</b> since ${d.since.slice(0, 16).replace('T', ' ')} UTC`, ''];
  lines.push(`Incidents: ${d.opened.length} opened, ${d.resolved.length} resolved`);
  for (const s of d.resolved.slice(0, 10)) {
    const i = s.last_incident;
    const what = `${i?.reason ?? 'incident'}${i?.last_reason ? ` (then ${i.last_reason})` : ''}`;
    lines.push(`  ✅ ${esc(`${s.node}/${s.service}`)}: ${esc(what)} resolved ${ago(i?.resolved_at ?? null, now)}`);
  }
  const c = d.counts;
  lines.push(`Actions: ${c.completed} completed, ${c.failed} failed, ${c.rejected} rejected, ${c.cancelled} cancelled`);
  if (d.quiet.recovered_by_themselves || d.quiet.snoozed) lines.push(`Kept quiet: ${d.quiet.recovered_by_themselves} drift(s) recovered by themselves, ${d.quiet.snoozed} snoozed (edits, no new messages)`);
  for (const a of d.failed.slice(0, 10)) lines.push(`  ❌ <code>${esc(a.id)}</code>: ${esc(a.error ?? '')}`);
  lines.push('');
  if (d.still_unhealthy.length === 0) lines.push('✅ Everything is healthy now.');
  else {
    lines.push(`🔴 Still unhealthy (${d.still_unhealthy.length}):`);
    for (const s of d.still_unhealthy.slice(0, 20)) lines.push(`  ${esc(`${s.node}/${s.service}`)}: ${esc(s.reason ?? '')} since ${ago(s.since, now)}`);
  }
  if (d.silent_agents.length) lines.push(`📵 Silent agents: ${d.silent_agents.map(esc).join(', ')}`);
  if (d.updates_waiting.length) {
    lines.push('', `🆕 Newer images (${d.updates_waiting.length}):`);
    for (const u of d.updates_waiting.slice(0, 10)) lines.push(`  ${esc(u.key)}: ${esc(u.images)}`);
    if (d.updates_waiting.length > 10) lines.push(`  … and ${d.updates_waiting.length - 10} more`);
  }
  if (d.pending.length) {
    lines.push('', `⏳ Waiting for a decision (${d.pending.length}):`);
    for (const a of d.pending.slice(0, 10)) lines.push(`  • ${renderBrief(a)}`);
    if (d.pending.length > 10) lines.push(`  … and ${d.pending.length - 10} more`);
  }
  if (d.data) lines.push('', dataLine(d.data));
  return lines.join('\n');
}
