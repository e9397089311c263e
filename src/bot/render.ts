// What the bot says, as pure functions: text (Telegram HTML) and buttons. No grammY here.
import { budgetWords, describeAction, type Action } from '../domain/actions.js';
import { shortDigest } from '../domain/image-ref.js';
import type { Op } from './callback-data.js';
import { evidenceFacts, type Evidence } from '../store/evidence.js';
import { plainLength, shortenHtml, splitHtml } from './html-split.js';

/**
 * A button: one that calls back with `data` (Bot API 9.4 `style`: green for what goes ahead, red
 * for what stops or confirms a risk), or one that copies `copy` to the clipboard (7.11 `copy_text`).
 */
export type Button = { text: string; data: string; style?: 'success' | 'danger' | 'primary' } | { text: string; copy: string };
export type Buttons = Button[][];

/** The longest text a copy_text button may carry (Bot API: 1–256 characters). */
export const COPY_TEXT_MAX = 256;
/** Makes a button's callback data for an operation on one reference (callback-data.ts). */
export type ButtonData = (op: Op, n?: number) => string;
export interface Rendered {
  text: string;
  buttons: Buttons;
}

/** Telegram's limit for one message. */
export const MAX_TEXT = 4096;

/**
 * The most any one variable-length part of an action's message (an error, the evidence, a note,
 * a name) shows, in characters: the title, the state line and the buttons always fit. The whole
 * text is behind the 📄 Details button and in `control-plane actions show`.
 */
export const PART_MAX = 300;

/** `s` cut to `max` UTF-16 units (never inside a surrogate pair), with … when cut. */
export function cap(s: string, max = PART_MAX): string {
  if (s.length <= max) return s;
  let end = max - 1;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

/** Whether a part is longer than its cap (the message then offers 📄 Details). */
const over = (s: string | undefined | null, max = PART_MAX): boolean => typeof s === 'string' && s.length > max;

export function esc(s: unknown): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function hhmm(iso: string | undefined | null): string {
  if (!iso) return '?';
  return `${iso.slice(11, 16)} UTC`;
}

const TYPE_TITLE: Record<string, string> = { container_restart: 'Restart', redeploy: 'Redeploy', disk_cleanup: 'Disk cleanup', image_update: 'Update' };

const CANCEL_TEXT: Record<string, string> = {
  drift_resolved_auto: 'the drift resolved itself (healthy again)',
  service_removed_from_desired_state: 'the service left services.yaml or is no longer monitored',
  superseded: 'the service now needs another action (or a newer image appeared)',
  updates_off: 'updates are no longer approve or auto in services.yaml',
  version_skipped: 'this version was skipped (control-plane updates skip)',
  cancelled_by_operator: 'cancelled by an operator (/recover)',
  cancelled_by_file: 'moved to cancelled/ by hand',
  covered_by_root: 'a service it depends on is down: that one\'s action brings it back',
};

function who(a: { name?: string; id?: string | number; via: string } | undefined): string {
  if (!a) return 'someone';
  if (a.via === 'policy') return `policy (${a.name === 'updates' ? 'updates: auto' : 'auto_approve'})`;
  return `${cap(String(a.name ?? a.id ?? 'someone'), 64)} (${cap(a.via, 32)})`;
}

function resultLine(a: Action): string {
  const r = a.result;
  if (!r) return '';
  if ('bytes_total' in r && typeof r.bytes_total === 'number') return `reclaimed ${formatBytes(r.bytes_total)}`;
  const list: unknown = 'containers' in r ? r.containers : undefined;
  const containers = Array.isArray(list) ? list.filter((c): c is { container: string } => typeof c?.container === 'string') : [];
  const verb = a.type === 'redeploy' || a.type === 'image_update' ? 'recreated' : 'restarted';
  const own = `${verb} ${cap(containers.map((c) => c.container).join(', ')) || 'nothing'}`;
  const chain = 'chain' in r && Array.isArray(r.chain) ? (r.chain as { service?: unknown; outcome?: unknown }[]) : [];
  if (chain.length === 0) return own;
  return `${own}, then ${cap(chain.map((c) => `${String(c.outcome)} ${String(c.service)}`).join(', '))}`;
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

/** A snoozed action's state: until when and by whom, and who ended it early. */
function snoozeLine(z: NonNullable<Action['snooze']>): string {
  const until = z.recover ? 'until it recovers' : `until ${hhmm(z.until)}`;
  const over = z.unsnoozed_at ? ` · unsnoozed at ${hhmm(z.unsnoozed_at)} by ${esc(cap(z.unsnoozed_by ?? 'someone', 64))}: proposed again if it still drifts` : '';
  return `💤 <b>Snoozed</b> ${until} by ${esc(cap(z.by, 64))}${over}`;
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
      if (a.type === 'image_update' && a.verified === true) v = `✅ verified: ${esc(cap(a.verification?.note ?? 'healthy'))}`;
      if (a.type === 'disk_cleanup') v = '';
      return `✔️ <b>Completed</b>${seconds(a.started_at, a.finished_at)}: ${esc(resultLine(a))} (approved by ${esc(who(a.approved_by))})${v ? `\n${v}` : ''}`;
    }
    case 'failed':
      return `❌ <b>Failed</b>${seconds(a.started_at, a.finished_at)}: ${esc(cap(a.error ?? 'unknown error'))}`;
    case 'rejected':
      return `🚫 <b>Rejected</b> by ${esc(who(a.rejected_by))}`;
    case 'cancelled':
      if (a.cancel_reason === 'cancelled_by_snooze' && a.snooze) return snoozeLine(a.snooze);
      // Not news: the same message says so, no new one.
      if (a.cancel_reason === 'drift_resolved_auto') return `✅ <b>Recovered by itself</b> at ${hhmm(a.updated_at)}: nothing was done, nothing is needed`;
      return `🗑 <b>Cancelled</b>: ${esc(CANCEL_TEXT[a.cancel_reason ?? ''] ?? cap(a.cancel_reason ?? 'cancelled', 100))}`;
  }
}

/** One compact line of what the inspector saw, e.g. `exit 137 · OOM-killed · 3 restarts · unhealthy 5× ("curl: (7) …")`. */
export function evidenceLine(e: Evidence): string {
  return `🔎 ${esc(cap(evidenceText(e)))}`;
}

function evidenceText(e: Evidence): string {
  return evidenceFacts(e).join('; ') || 'no containers named';
}

/** The stored log tail of an action's containers, as <pre> blocks (escaped; split safely by the caller). */
export function renderLogs(title: string, e: Evidence): string {
  const lines = [`📜 <b>${esc(title)}</b> (read ${hhmm(e.collected_at)})`];
  if (e.error) lines.push(esc(e.error));
  for (const c of e.containers) {
    lines.push('', `<b>${esc(c.name)}</b>: ${esc(c.state)}${c.exit_code !== null ? `, exit ${c.exit_code}` : ''}${c.logs_truncated ? ' (older lines left out)' : ''}`);
    // An expandable quote (Bot API 7.4): the chat shows a few lines, a tap the rest.
    lines.push(c.logs.length ? `<blockquote expandable>${esc(c.logs.join('\n'))}</blockquote>` : '<i>no log lines</i>');
  }
  return lines.join('\n');
}

/** How old an image is: `2 h`, `3 days`. */
function age(created: string | undefined, now: number): string | undefined {
  const t = created ? Date.parse(created) : NaN;
  if (!Number.isFinite(t)) return undefined;
  const h = Math.max(0, (now - t) / 3600_000);
  return h < 1 ? `${Math.round(h * 60)} min` : h < 48 ? `${Math.round(h)} h` : `${Math.round(h / 24)} days`;
}

/** An image update's lines: image:tag, old → new short digests, the new image's age, version and source. */
/** Images an update's message lists one by one; the rest are counted. */
const UPDATE_LINES = 5;

export function updateLines(a: Pick<Action, 'update'>, now: number): string[] {
  const images = a.update?.images ?? [];
  const lines = images.slice(0, UPDATE_LINES).map((i) => {
    const facts = [i.version ? `version <b>${esc(cap(i.version, 64))}</b>` : undefined, age(i.created, now) ? `built ${age(i.created, now)} ago` : undefined].filter(Boolean);
    // A link whose address was cut would lead nowhere: a long one is left out.
    const source = i.source && /^https?:\/\//.test(i.source) && i.source.length <= PART_MAX ? ` · <a href="${esc(i.source).replace(/"/g, '&quot;')}">source</a>` : '';
    return `🆕 <code>${esc(cap(i.image, 200))}</code> ${esc(shortDigest(i.from_digest))} → <b>${esc(shortDigest(i.to_digest))}</b>${facts.length ? ` (${facts.join(', ')})` : ''}${source}`;
  });
  if (images.length > UPDATE_LINES) lines.push(`… and ${images.length - UPDATE_LINES} more image(s)`);
  return lines;
}

/** The restart budget: used so far, or — spent — the escalation with each heal and what it found. */
function budgetLines(a: Pick<Action, 'budget'>): string[] {
  const [first, ...rest] = budgetWords(a.budget, hhmm);
  if (first === undefined) return [];
  return [a.budget?.escalation ? `🚨 <b>${esc(first)}</b>` : `🩹 ${esc(first)}`, ...rest.map((l) => esc(cap(l, 300)))];
}

/** Whether the action's message shows any part cut to its cap (then it offers 📄 Details). */
export function actionCut(a: Action, evidence?: Evidence): boolean {
  return (
    over(a.error) ||
    over(a.verification?.note) ||
    (evidence !== undefined && over(evidenceText(evidence))) ||
    (a.update?.images.length ?? 0) > UPDATE_LINES ||
    (a.update?.images ?? []).some((i) => over(i.image, 200) || over(i.version, 64) || over(i.source))
  );
}

/** The whole of what an action's message may show cut: the 📄 Details answer (split by the sender). */
export function renderDetails(a: Action, evidence?: Evidence): string {
  const lines = [`📄 <b>${esc(a.id)}</b> (${esc(a.state)})`];
  if (a.error) lines.push('', '<b>Error</b>', esc(a.error));
  if (a.verification?.note) lines.push('', '<b>Verification</b>', esc(a.verification.note));
  if (evidence) lines.push('', '<b>Evidence</b>', esc(evidenceText(evidence)));
  for (const i of a.update?.images ?? []) lines.push('', `<b>${esc(i.image)}</b>`, `${esc(i.from_digest ?? 'unknown')} → ${esc(i.to_digest)}`, ...(i.version ? [`version ${esc(i.version)}`] : []), ...(i.source ? [`source ${esc(i.source)}`] : []));
  return lines.join('\n');
}

/** The living message of one action. `confirming`: a guarded Approve was pressed once. */
export function renderAction(a: Action, refData: ButtonData, opts: { confirming?: boolean; now: number; evidence?: Evidence; stopping?: { waitingFor: string; graceS: number } }): Rendered {
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
  if (a.type === 'image_update') lines.push(...updateLines(a, opts.now));
  if (a.budget) lines.push(...budgetLines(a));
  if (a.chain) lines.push(`🔗 root cause of ${esc(cap(a.chain.dependents.map((d) => d.service).join(', ')))}: they are brought back after it`);
  if (opts.evidence) lines.push(evidenceLine(opts.evidence));
  if (a.state === 'pending') lines.push(`Approving will ${esc(describeAction(a))}.`);
  // Every part above is capped; should they still not fit (a hand-edited file), the middle gives
  // way, never the title or the state and its buttons.
  const state = ['', stateLine(a), ...(a.state === 'running' && opts.stopping ? [`⏳ stopping: the control plane waits for ${esc(cap(opts.stopping.waitingFor, 200))} (at most SHUTDOWN_GRACE_S, ${opts.stopping.graceS} s)`] : [])];
  let squeezed = false;
  while (lines.length > 2 && plainLength([...lines, ...(squeezed ? ['…'] : []), ...state, GUARD_LINE].join('\n')) > MAX_TEXT) {
    lines.pop();
    squeezed = true;
  }
  if (squeezed) lines.push('…');
  lines.push(...state);
  let buttons: Buttons = [];
  if (a.state === 'pending') {
    if (opts.confirming && a.risk === 'guarded') {
      lines.push(GUARD_LINE);
      buttons = [[{ text: '⚠️ Confirm', data: refData('confirm'), style: 'danger' }, { text: '↩️ Back', data: refData('back') }]];
    } else {
      buttons = [[{ text: '✅ Approve', data: refData('approve'), style: 'success' }, { text: '✖️ Reject', data: refData('reject'), style: 'danger' }]];
      if (a.type === 'image_update') buttons.push([{ text: '⏭ Skip this version', data: refData('skipVersion') }]);
      buttons.push([
        { text: '💤 1 h', data: refData('snoozeHour') },
        { text: '💤 till 08:00', data: refData('snoozeMorning') },
        { text: '💤 till it recovers', data: refData('snoozeRecover') },
      ]);
    }
    if (opts.evidence && opts.evidence.containers.some((c) => c.logs.length > 0)) buttons.push([{ text: '📜 Logs', data: refData('logs') }]);
    // The command to look for oneself, on the node (copied, not run).
    const container = a.containers?.[0];
    if (container) buttons.push([{ text: '📋 docker logs', copy: `docker logs --tail 100 ${container}`.slice(0, COPY_TEXT_MAX) }]);
  }
  // A snooze still running can be ended from the message it was made on.
  if (a.state === 'cancelled' && a.snooze && !a.snooze.unsnoozed_at && (a.snooze.recover || Date.parse(a.snooze.until) > opts.now)) buttons.push([{ text: '⏰ Unsnooze', data: refData('unsnooze') }]);
  if (squeezed || actionCut(a, opts.evidence)) buttons.push([{ text: '📄 Details', data: refData('details') }]);
  return { text: lines.join('\n'), buttons };
}

/** A failed action's own short message (a failure makes a sound; the living message above has the details). */
export function renderFailureNote(a: Action): string {
  const target = a.service ? `${a.service} on ${a.node}` : a.node;
  return `❌ <b>${esc(TYPE_TITLE[a.type] ?? a.type)} ${esc(target)} failed</b>: ${esc(cap(a.error ?? 'unknown error', 300))}\n<code>${esc(a.id)}</code> · the message about it has the details`;
}

/** The longest line a pending guarded message adds after the state line. */
const GUARD_LINE = '⚠️ Guarded action: press Confirm to approve it.';

/**
 * A group's message. Its member lines stop once the text is longer than `max` plain characters:
 * shortened to fit (outbox), it says the same as with every line, and a group of a thousand
 * actions costs what fits in a message, not a thousand lines.
 */
export function renderGroup(node: string, members: Action[], refData: ButtonData, max = MAX_TEXT): Rendered {
  const pending = members.filter((m) => m.state === 'pending');
  const lines = [`🚨 <b>${members.length} ${members.length === 1 ? 'action' : 'actions'} on ${esc(node)}</b> became pending together`, ''];
  let length = plainLength(lines.join('\n'));
  for (const m of members) {
    if (length > max) break;
    const line = `• <code>${esc(m.id)}</code> (${esc(m.risk)}): ${stateLine(m).split('\n')[0]}`;
    lines.push(line);
    length += 1 + plainLength(line);
  }
  lines.push('', `first at ${hhmm(members[0]?.created_at ?? null)}`);
  const buttons: Buttons = [];
  if (pending.length > 0) {
    const row: Button[] = [];
    if (pending.some((m) => m.risk === 'low')) row.push({ text: '✅ Approve all low-risk', data: refData('approveLowRisk') });
    row.push({ text: '✖️ Reject all', data: refData('rejectAll') });
    buttons.push(row, [{ text: '🔍 Show each', data: refData('showEach') }]);
  }
  return { text: lines.join('\n'), buttons };
}

/** Notices about trouble someone may want to snooze (not the ones that only inform or ask to confirm). */
const SNOOZABLE = new Set(['node_silent', 'engine_unreachable', 'flapping', 'agents_running']);

/** A snooze in force on a notice's target (a silence made from its 💤 button). */
export interface NoticeSnooze {
  until: string;
  recover: boolean;
  by: string;
}

export function renderNotice(n: { kind: string; node: string; message: string; state: string; opened_at: string; closed_at?: string }, refData: ButtonData, snoozed?: NoticeSnooze): Rendered {
  const title: Record<string, string> = {
    node_silent: '📵 Node agent silent',
    engine_unreachable: '🔌 Docker Engine unreachable',
    desired_invalid: '📝 services.yaml invalid',
    bulk_removal_held: '✋ Bulk removal held',
    flapping: '🔁 Service flapping',
    image_update_available: '🆕 Newer image',
    maintenance: '🛠 Maintenance',
    maintenance_ended: '🛠 Maintenance over',
  };
  const lines = [`${title[n.kind] ?? esc(n.kind)}: <b>${esc(n.node)}</b>`, esc(n.message)];
  if (n.state === 'closed' && n.kind === 'maintenance') lines.push('', `✅ Ended at ${hhmm(n.closed_at)}`);
  else if (n.state === 'closed' && n.kind !== 'maintenance_ended') lines.push('', `✅ Resolved at ${hhmm(n.closed_at)}`);
  const buttons: Buttons = n.kind === 'bulk_removal_held' && n.state === 'open' ? [[{ text: '✅ Confirm removal', data: refData('confirmRemoval') }]] : [];
  if (n.state === 'open' && SNOOZABLE.has(n.kind)) {
    if (snoozed) {
      lines.push('', `💤 <b>Snoozed</b> ${snoozed.recover ? 'until it recovers' : `until ${hhmm(snoozed.until)}`} by ${esc(cap(snoozed.by, 64))}: nothing is proposed for it meanwhile`);
      buttons.push([{ text: '⏰ Unsnooze', data: refData('unsnooze') }]);
    } else {
      buttons.push([
        { text: '💤 1 h', data: refData('snoozeHour') },
        { text: '💤 till 08:00', data: refData('snoozeMorning') },
        { text: '💤 till it recovers', data: refData('snoozeRecover') },
      ]);
    }
  }
  return { text: lines.join('\n'), buttons };
}

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
