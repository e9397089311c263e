// What the bot says, as pure functions: text (Telegram HTML) and buttons. No grammY here.
import { describeAction, type Action } from '../domain/actions.js';
import type { Silence } from '../domain/plan.js';
import { ago, type BriefAction, type Summary } from '../domain/summary.js';
import { shortenHtml, splitHtml } from './html-split.js';

export interface Button {
  text: string;
  data: string;
}
export type Buttons = Button[][];
export interface Rendered {
  text: string;
  buttons: Buttons;
}

/** Telegram's limit for one message. */
export const MAX_TEXT = 4096;

export function esc(s: unknown): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function hhmm(iso: string | undefined | null): string {
  if (!iso) return '?';
  return `${iso.slice(11, 16)} UTC`;
}

const TYPE_TITLE: Record<string, string> = { container_restart: 'Restart', redeploy: 'Redeploy', disk_cleanup: 'Disk cleanup' };

const CANCEL_TEXT: Record<string, string> = {
  drift_resolved_auto: 'the drift resolved itself (healthy again)',
  service_removed_from_desired_state: 'the service left services.yaml or is no longer monitored',
  superseded: 'the service now needs the other action type',
  cancelled_by_operator: 'cancelled by an operator (/recover)',
  cancelled_by_file: 'moved to cancelled/ by hand',
};

function who(a: { name?: string; id?: string | number; via: string } | undefined): string {
  if (!a) return 'someone';
  if (a.via === 'policy') return 'policy (auto_approve)';
  return `${a.name ?? a.id ?? 'someone'} (${a.via})`;
}

function resultLine(a: Action): string {
  const r = a.result;
  if (!r) return '';
  if ('bytes_total' in r && typeof r.bytes_total === 'number') return `reclaimed ${formatBytes(r.bytes_total)}`;
  const list: unknown = 'containers' in r ? r.containers : undefined;
  const containers = Array.isArray(list) ? list.filter((c): c is { container: string } => typeof c?.container === 'string') : [];
  const verb = a.type === 'redeploy' ? 'recreated' : 'restarted';
  return `${verb} ${containers.map((c) => c.container).join(', ') || 'nothing'}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function seconds(from?: string, to?: string): string {
  if (!from || !to) return '';
  return ` in ${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s`;
}

export function stateLine(a: Action): string {
  switch (a.state) {
    case 'pending':
      return '⏳ <b>Pending</b>: waiting for a decision';
    case 'approved':
      return `👍 <b>Approved</b> by ${esc(who(a.approved_by))}: waiting for the executor`;
    case 'running':
      return `⚙️ <b>Running</b> since ${hhmm(a.started_at)} (approved by ${esc(who(a.approved_by))})`;
    case 'completed': {
      let v = '🔎 verifying that the service reports healthy…';
      if (a.verified === true) v = `✅ verified healthy${typeof a.verification?.after_s === 'number' ? ` ${a.verification.after_s} s after` : ''}`;
      if (a.verified === false) v = '⚠️ <b>restarted but still unhealthy</b>';
      if (a.type === 'disk_cleanup') v = '';
      return `✔️ <b>Completed</b>${seconds(a.started_at, a.finished_at)}: ${esc(resultLine(a))} (approved by ${esc(who(a.approved_by))})${v ? `\n${v}` : ''}`;
    }
    case 'failed':
      return `❌ <b>Failed</b>${seconds(a.started_at, a.finished_at)}: ${esc(a.error ?? 'unknown error')}`;
    case 'rejected':
      return `🚫 <b>Rejected</b> by ${esc(who(a.rejected_by))}`;
    case 'cancelled':
      return `🗑 <b>Cancelled</b>: ${esc(CANCEL_TEXT[a.cancel_reason ?? ''] ?? a.cancel_reason ?? 'cancelled')}`;
  }
}

/** The living message of one action. `confirming`: a guarded Approve was pressed once. */
export function renderAction(a: Action, refData: (op: string) => string, opts: { confirming?: boolean; now: number }): Rendered {
  const target = a.service ? `${esc(a.service)} on ${esc(a.node)}` : esc(a.node);
  const since = a.drift_since ?? a.created_at;
  const lines = [
    `${a.risk === 'guarded' ? '🛡' : '🔧'} <b>${TYPE_TITLE[a.type] ?? esc(a.type)} ${target}</b>`,
    `<code>${esc(a.id)}</code>`,
    `type <b>${esc(a.type)}</b> · risk <b>${esc(a.risk)}</b>`,
    `drift ${esc(a.drift)} · trigger <b>${esc(a.trigger)}</b>`,
    // Absolute times only: a relative "3m ago" would change at every pass and turn each living
    // message into a stream of edits that eats the chat's rate limit.
    `since ${hhmm(since)}`,
  ];
  if (a.state === 'pending') lines.push(`Approving will ${esc(describeAction(a))}.`);
  lines.push('', stateLine(a));
  let buttons: Buttons = [];
  if (a.state === 'pending') {
    if (opts.confirming && a.risk === 'guarded') {
      lines.push('⚠️ Guarded action: press Confirm to approve it.');
      buttons = [[{ text: '⚠️ Confirm', data: refData('cf') }, { text: '↩️ Back', data: refData('bk') }]];
    } else {
      buttons = [[{ text: '✅ Approve', data: refData('ap') }, { text: '✖️ Reject', data: refData('rj') }]];
    }
  }
  return { text: lines.join('\n'), buttons };
}

export function renderGroup(node: string, members: Action[], refData: (op: string) => string, now: number): Rendered {
  const pending = members.filter((m) => m.state === 'pending');
  const lines = [`🚨 <b>${members.length} actions on ${esc(node)}</b> became pending together`, ''];
  for (const m of members) {
    lines.push(`• <code>${esc(m.id)}</code> (${esc(m.risk)}): ${stateLine(m).split('\n')[0]}`);
  }
  lines.push('', `first at ${hhmm(members[0]?.created_at ?? null)}`);
  const buttons: Buttons = [];
  if (pending.length > 0) {
    const row: Button[] = [];
    if (pending.some((m) => m.risk === 'low')) row.push({ text: '✅ Approve all low-risk', data: refData('ga') });
    row.push({ text: '✖️ Reject all', data: refData('gr') });
    buttons.push(row, [{ text: '🔍 Show each', data: refData('gs') }]);
  }
  return { text: lines.join('\n'), buttons };
}

export function renderNotice(n: { kind: string; node: string; message: string; state: string; opened_at: string; closed_at?: string }, refData: (op: string) => string): Rendered {
  const title: Record<string, string> = {
    node_silent: '📵 Node agent silent',
    engine_unreachable: '🔌 Docker Engine unreachable',
    desired_invalid: '📝 services.yaml invalid',
    bulk_removal_held: '✋ Bulk removal held',
    flapping: '🔁 Service flapping',
  };
  const lines = [`${title[n.kind] ?? esc(n.kind)}: <b>${esc(n.node)}</b>`, esc(n.message)];
  if (n.state === 'closed') lines.push('', `✅ Resolved at ${hhmm(n.closed_at)}`);
  const buttons: Buttons = n.kind === 'bulk_removal_held' && n.state === 'open' ? [[{ text: '✅ Confirm removal', data: refData('nr') }]] : [];
  return { text: lines.join('\n'), buttons };
}

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

export function renderSilences(list: Silence[], now: number): Rendered {
  if (list.length === 0) return { text: 'No active silences. Add one: /silence &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason]', buttons: [] };
  const lines = ['🔕 <b>Active silences</b>', ''];
  const buttons: Buttons = [];
  for (const s of list) {
    lines.push(`• <b>${esc(s.target)}</b> until ${hhmm(s.until)} (${ago(s.until, now).replace(' ago', '')} left)${s.reason ? `: ${esc(s.reason)}` : ''}`);
    buttons.push([{ text: `Remove ${s.target}`.slice(0, 60), data: `sr:${s.id}` }]);
  }
  return { text: lines.join('\n'), buttons };
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
  '/recover: replay world, diagnose a flood of pending actions, cancel all pending 🔑',
  '/help: this text',
  '',
  '🔑 changes something: only the admins in TELEGRAM_ADMIN_IDS (anyone in the chat may look).',
].join('\n');

/**
 * Splits a message into parts Telegram accepts: at most MAX_TEXT characters of text each, cut
 * between whole characters and preferably at line ends, every part balanced HTML (html-split.ts).
 */
export function splitText(text: string, max = MAX_TEXT): string[] {
  return splitHtml(text, max);
}

/** Shortens a text to fit, with a pointer to the page for the rest: valid, balanced HTML. */
export function shorten(text: string, pageUrl: string | undefined, max = MAX_TEXT): string {
  return shortenHtml(text, max, `\n… (shortened; full text on ${pageUrl ? esc(pageUrl) : 'the web page'})`);
}
