// Keeps the chat in step with the action and notice files, level-triggered: every pass renders
// what each living message should say and hands it to the outbox, whoever changed the file
// (a button, the CLI, `mv`, the supervisor, the executor). A new pending action is sent at once;
// when more follow on the same node within the burst window, they fold into one group message
// (docs/design/telegram.md).
import { isOpen, type Action } from '../domain/actions.js';
import type { Logger } from '../log.js';
import type { ActionBackend } from '../store/action-backend.js';
import type { StoredNotice } from '../store/notice-store.js';
import type { SupervisorState } from '../store/supervisor-state.js';
import { buttonsFor } from './callback-data.js';
import type { Outbox } from './outbox.js';
import type { Silence } from '../domain/silences.js';
import type { MetaOf } from '../store/outbox-files.js';
import type { RefTable } from './refs.js';
import type { Evidence } from '../store/evidence.js';
import type { Clock } from '../time/clock.js';
import { renderAction, renderFailureNote, renderGroup, renderNotice, type ButtonData } from './render.js';
import { renderList } from './render-replies.js';
import { actionKey, OpenTable } from './open-table.js';

export { actionKey };

/** What a stop waits for on an action under way. */
export interface Stopping {
  waitingFor: string;
  graceS: number;
  since: number;
}

/**
 * Up to this many pending actions in the chat within BURST_WINDOW_MS get a message each; more fold
 * into one group message, whatever their nodes (a group chat allows about 20 calls a minute).
 */
export const BURST_THRESHOLD = 3;
export const BURST_WINDOW_MS = 30_000;
/** A new action's own message waits this long for its evidence, so that it is one send, not a send and an edit. */
export const EVIDENCE_WAIT_MS = 300;

/** More members than this are looked up in a listing of the open actions, not one by one. */
const FEW_MEMBERS = 16;

/** The open actions as one listing found them, by key, with the store's change mark before it. */
interface OpenListing {
  mark: number;
  byKey: ReadonlyMap<string, Action>;
  /** The table's generation (OpenTable) the listing is. */
  generation?: number;
}

/** Notices that only inform: sent without a sound (disable_notification). */
const QUIET = new Set(['maintenance', 'maintenance_ended', 'image_update_available', 'agents_running']);
/** Notices written closed, to be sent once. */
const NEWS_ONCE = new Set(['maintenance_ended']);

const noticeKey = (n: StoredNotice) => `notice:${n.key}@${n.opened_at}`;

/** `action:<id>@<instance>` → its parts, or undefined for any other key. */
export function parseActionKey(key: string): { id: string; instance: string } | undefined {
  const m = /^action:(.+)@([^@]+)$/.exec(key);
  return m ? { id: m[1]!, instance: m[2]! } : undefined;
}

export interface NotifierDeps {
  actions: ActionBackend;
  supervisorState: SupervisorState;
  outbox: Outbox;
  refs: RefTable;
  /** The evidence stored beside an action, if any. */
  evidence?: (id: string, instance: string) => Promise<Evidence | undefined>;
  /** While a stop waits for an action under way: what it waits for. */
  stopping?: (a: Action) => Stopping | undefined;
  chatId: string;
  log: Logger;
  now: () => number;
  /** Timers (the evidence wait); with `wake`, which asks for a pass when one falls due. */
  clock?: Clock;
  wake?: () => void;
}

export class Notifier {
  private lock: Promise<unknown> = Promise.resolve();
  /** What each action message was last rendered from: unchanged, it is not rendered again. */
  private rendered = new Map<string, string>();
  /** Each group message's members as last rendered (the store's parsed objects) and its record's revision then. */
  private readonly groupMembers = new Map<string, { keys: readonly string[]; members: readonly Action[]; rev: number | undefined; generation: number | undefined }>();
  /** Open actions (the store's parsed objects) found with a message or in a group: not new again. */
  private readonly announced = new WeakSet<Action>();
  /** The open actions as the last pass listed them, and the table of them by key. */
  private lastOpen: readonly Action[] | undefined;
  private readonly openTable = new OpenTable();

  constructor(private readonly deps: NotifierDeps) {}

  /**
   * Runs `f` alone: a pass and the handling of an update never interleave, so neither renders a
   * message from what the other is changing (a list's Confirm row, a group's members).
   */
  exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.lock.then(f);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** The buttons' data for one key (its reference entered in the table). */
  data(key: string): ButtonData {
    return buttonsFor(this.deps.refs.ref(key));
  }

  /**
   * The actions behind action keys, in that order (gone ones left out). `open`: the open actions
   * as a pass listed them, used while nothing has changed since.
   */
  async members(keys: readonly string[], open?: OpenListing): Promise<Action[]> {
    const out: Action[] = [];
    let known = open && open.mark === this.deps.actions.changeMark() ? open.byKey : undefined;
    if (!known && keys.length > FEW_MEMBERS) {
      // Something changed since the pass's listing: one listing again, not a lookup per member
      // (the pass's next messages use it too).
      const fresh = (await this.listOpen()).listing;
      if (fresh && open) Object.assign(open, fresh);
      known = fresh?.byKey;
    }
    for (const k of keys) {
      const listed = known?.get(k);
      if (listed) {
        out.push(listed);
        continue;
      }
      const p = parseActionKey(k);
      const a = p ? await this.deps.actions.find(p.id, p.instance) : undefined;
      if (a) out.push(a);
    }
    return out;
  }

  /**
   * Renders an action's living message. `create: false`: only if it has one (an action shown in a
   * group or a list keeps it that way). `urgent`: it answers a press (lane 1).
   */
  async renderActionMessage(a: Action, opts: { create?: boolean; urgent?: boolean } = {}): Promise<void> {
    const key = actionKey(a);
    const rec = this.deps.outbox.get(key);
    if (!rec && opts.create === false) return;
    const confirming = rec?.meta.kind === 'action' && rec.meta.confirming === true;
    const data = this.data(key);
    const evidence = await this.deps.evidence?.(a.id, a.instance);
    const stopping = a.state === 'running' ? this.deps.stopping?.(a) : undefined;
    const from = (rev: number | undefined) => `${a.state}|${a.updated_at}|${confirming}|${String(a.verified)}|${evidence?.collected_at ?? ''}|${stopping?.waitingFor ?? ''}|${rev ?? 0}`;
    if (rec && !opts.urgent && this.rendered.get(key) === from(rec.rev)) return;
    const r = renderAction(a, data, { confirming, now: this.deps.now(), ...(evidence ? { evidence } : {}), ...(stopping ? { stopping } : {}) });
    const final = !isOpen(a.state) && (a.state !== 'completed' || a.type === 'disk_cleanup' || typeof a.verified === 'boolean');
    await this.deps.outbox.upsert(key, { chatId: this.deps.chatId, text: r.text, buttons: r.buttons, meta: { kind: 'action', id: a.id, instance: a.instance, final, ...(confirming ? { confirming } : {}) }, urgent: opts.urgent === true });
    if (final) this.rendered.delete(key);
    else this.rendered.set(key, from(this.deps.outbox.get(key)?.rev));
    // A failure makes a sound: edits never notify, so it gets a short message of its own, once.
    if (a.state === 'failed' && !this.deps.outbox.get(`failed:${key}`)) {
      await this.deps.outbox.upsert(`failed:${key}`, { chatId: this.deps.chatId, text: renderFailureNote(a), buttons: [], meta: { kind: 'reply', final: true } });
    }
  }

  /**
   * After a press decided many actions at once (Cancel all, Reject all): every message that shows
   * one of them — its own, a group, a list — is rendered now as an answer to that press (lane 1),
   * so their buttons are gone within seconds, before any queued background call.
   */
  async renderDecided(decided: readonly Action[]): Promise<void> {
    const keys = new Set(decided.map(actionKey));
    for (const a of decided) await this.renderActionMessage(a, { create: false, urgent: true });
    for (const r of this.deps.outbox.all()) {
      if (r.meta.final) continue;
      if (r.meta.kind === 'group' && r.meta.members.some((m) => keys.has(m))) await this.renderGroupMessage(r.key, r.meta, true);
      if (r.meta.kind === 'list' && r.meta.members.some((m) => keys.has(m))) await this.renderListMessage(r.key, r.meta, true);
    }
  }

  async renderGroupMessage(key: string, meta: MetaOf<'group'>, urgent = false, open?: OpenListing): Promise<void> {
    const rec = this.deps.outbox.get(key);
    const seen = this.groupMembers.get(key);
    // Every member open at the last look, and none of them changed in the table of open actions
    // since (nor the record): nothing to look up, as the same members would be found.
    if (rec && !urgent && seen?.rev === rec.rev && seen.keys === meta.members && this.untouched(meta.members, seen.generation, open)) return;
    const members = await this.members(meta.members, open);
    // A group of a thousand actions is rendered again only when one of them moved (or its record
    // did): the same parsed objects are the same files; other objects are compared by what the
    // message shows of them (a member added or gone is told by the count).
    if (rec && !urgent && seen?.rev === rec.rev && sameShown(seen.members, members)) {
      this.groupMembers.set(key, { keys: meta.members, members, rev: rec.rev, generation: this.allOpen(meta.members, members, open) });
      return;
    }
    const g = renderGroup(meta.node, members, this.data(key));
    const final = members.every((m) => !isOpen(m.state));
    await this.deps.outbox.upsert(key, { chatId: rec?.chat_id ?? this.deps.chatId, text: g.text, buttons: g.buttons, meta: { ...meta, final }, urgent });
    if (final) this.groupMembers.delete(key);
    else this.groupMembers.set(key, { keys: meta.members, members, rev: this.deps.outbox.get(key)?.rev, generation: this.allOpen(meta.members, members, open) });
  }

  /** Whether a listing is current and no key of `members` changed in the table since `generation`. */
  private untouched(members: readonly string[], generation: number | undefined, open: OpenListing | undefined): boolean {
    if (generation === undefined || !this.current(open)) return false;
    const changed = this.openTable.changedSince(generation);
    if (!changed) return false;
    const set = membersOf(members);
    return !changed.some((keys) => keys.some((k) => set.has(k)));
  }

  /** The table's generation when every member was found in it, as it is now (else undefined). */
  private allOpen(keys: readonly string[], members: readonly Action[], open: OpenListing | undefined): number | undefined {
    if (!this.current(open) || members.length !== keys.length) return undefined;
    for (let i = 0; i < keys.length; i++) if (open.byKey.get(keys[i]!) !== members[i]) return undefined;
    return open.generation;
  }

  /** Whether a listing is the table as it is and the store has heard of no change since it. */
  private current(open: OpenListing | undefined): open is OpenListing & { generation: number } {
    return open?.generation === this.openTable.generation && open.mark === this.deps.actions.changeMark();
  }

  /** `threadId`: the forum topic of a new list (where its command was sent). */
  async renderListMessage(key: string, meta: MetaOf<'list'>, urgent = false, threadId?: number): Promise<void> {
    const rec = this.deps.outbox.get(key);
    const members = await this.members(meta.members);
    const refs = this.deps.refs.ensure(members.map(actionKey));
    const refOf = new Map(members.map((a, i) => [a.id + '@' + a.instance, refs[i]!]));
    const r = renderList({ ...meta, members }, (a) => refOf.get(a.id + '@' + a.instance)!, buttonsFor, this.deps.refs.ref(key));
    const done = meta.superseded || members.every((m) => m.state !== 'pending');
    await this.deps.outbox.upsert(key, { chatId: rec?.chat_id ?? this.deps.chatId, ...(threadId !== undefined ? { threadId } : {}), text: r.text, buttons: r.buttons, meta: { ...meta, final: done }, urgent });
  }

  /**
   * One pass. Each piece of it (the new actions; each living message; the notices) runs alone
   * (`exclusive`), so a press is handled between two pieces, not after the whole pass.
   */
  async sync(): Promise<void> {
    const { open, listing } = await this.listOpen();
    // 1. Open actions nobody has seen yet first: a new pending action is what the chat waits for.
    await this.exclusive(() => this.announce(open));
    // 2. Messages already in the chat follow their subjects to their end.
    for (const r of this.deps.outbox.all()) if (!r.meta.final) await this.exclusive(() => this.follow(r.key, listing));
    // 3. Notices: sent once when they open, edited when they change or close.
    await this.exclusive(() => this.notices());
  }

  /**
   * The open actions, and (while the store can say whether anything changed since) the listing
   * a group's members are looked up in while nothing changed since (no file read per member).
   */
  private async listOpen(): Promise<{ open: Action[]; listing: OpenListing | undefined }> {
    const mark = this.deps.actions.changeMark();
    const open = await this.deps.actions.listOpen();
    if (mark === undefined) return { open, listing: undefined };
    // The same actions as the last pass's listing (the same parsed objects): its table again;
    // else the table of the last listing brought up to date, by what came and went.
    if (!this.lastOpen || !sameItems(this.lastOpen, open)) {
      this.openTable.update(open);
      this.lastOpen = open;
    }
    return { open, listing: { mark, byKey: this.openTable.byKey, generation: this.openTable.generation } };
  }

  private async follow(key: string, open?: OpenListing): Promise<void> {
    const { actions, outbox } = this.deps;
    const r = outbox.get(key);
    if (!r || r.meta.final) return;
    if (r.meta.kind === 'action') {
      const a = await actions.find(r.meta.id, r.meta.instance);
      // Its file is gone (retention, or removed by hand): there is nothing more to follow.
      if (!a) return void (await outbox.setMeta(key, 'action', { final: true }));
      await this.renderActionMessage(a);
    } else if (r.meta.kind === 'group') await this.renderGroupMessage(r.key, r.meta, false, open);
    else if (r.meta.kind === 'list') await this.renderListMessage(r.key, r.meta);
  }

  private async notices(): Promise<void> {
    const { outbox } = this.deps;
    // Snoozes made from a notice's 💤 button, by the notice they were made on.
    const snoozes = new Map<string, Silence>();
    for (const s of await this.deps.supervisorState.silenceWindows.current(this.deps.now())) if (s.snooze?.message.startsWith('notice:')) snoozes.set(s.snooze.message, s);
    for (const n of await this.deps.supervisorState.notices()) {
      const key = noticeKey(n);
      const rec = outbox.get(key);
      // A notice closed before it was sent is not news any more, but for one that is news once
      // and over at once (a maintenance that ended).
      if (!rec && n.state === 'closed' && !NEWS_ONCE.has(n.kind)) continue;
      if (rec?.meta.final === true) continue;
      const z = snoozes.get(`notice:${n.key}`);
      const r = renderNotice(n, this.data(key), z ? { until: z.until, recover: z.snooze!.recover, by: z.by?.replace(/^telegram:/, '') ?? 'someone' } : undefined);
      await outbox.upsert(key, { chatId: this.deps.chatId, text: r.text, buttons: r.buttons, meta: { kind: 'notice', notice: n.key, node: n.node, final: n.state === 'closed' }, ...(QUIET.has(n.kind) ? { quiet: true } : {}) });
    }
  }

  /**
   * New open actions: a message each, unless more than BURST_THRESHOLD became pending in the chat
   * within the burst window; those fold into one group message, which later ones join while the
   * window is open. A message of its own waits up to EVIDENCE_WAIT_MS for the action's evidence.
   */
  private async announce(open: Action[]): Promise<void> {
    const { outbox } = this.deps;
    const groups = outbox.all().filter((r) => r.meta.kind === 'group') as (ReturnType<Outbox['all']>[number] & { meta: MetaOf<'group'> })[];
    const grouped = groups.map((g) => membersOf(g.meta.members));
    const fresh: Action[] = [];
    for (const a of open) {
      // Seen before (the same parsed object): it has its message or its group, which it keeps.
      if (this.announced.has(a)) continue;
      const key = actionKey(a);
      if (outbox.get(key) || grouped.some((m) => m.has(key))) this.announced.add(a);
      else fresh.push(a);
    }
    fresh.sort((x, y) => (x.created_at < y.created_at ? -1 : 1));
    if (fresh.length === 0) return;
    const t = this.deps.now();
    const shown = (a: Action) => void this.announced.add(a);
    for (const a of fresh.filter((x) => x.state !== 'pending')) await this.renderActionMessage(a).then(() => shown(a));
    const pendingNew = fresh.filter((a) => a.state === 'pending');
    if (pendingNew.length === 0) return;
    const joinable = groups.find((g) => !g.meta.final && g.meta.first_at !== undefined && t - Date.parse(g.meta.first_at) < BURST_WINDOW_MS);
    if (joinable) {
      await this.renderGroupMessage(joinable.key, { ...joinable.meta, members: [...joinable.meta.members, ...pendingNew.map(actionKey)] });
      return pendingNew.forEach(shown);
    }
    // Pending actions with a message of their own within the burst window: the newest of the
    // listing (oldest first), looked at from its end until one is older than the window.
    let messaged = 0;
    for (let i = open.length - 1; i >= 0 && t - Date.parse(open[i]!.created_at) < BURST_WINDOW_MS; i--) {
      if (open[i]!.state === 'pending' && outbox.get(actionKey(open[i]!))?.meta.kind === 'action') messaged++;
    }
    if (messaged + pendingNew.length <= BURST_THRESHOLD) {
      for (const a of pendingNew) if (await this.evidenceSettled(a, t)) await this.renderActionMessage(a).then(() => shown(a));
      return;
    }
    const key = `group:${this.deps.chatId}:${pendingNew[0]!.created_at}`;
    const nodes = [...new Set(pendingNew.map((a) => a.node))].sort();
    await this.renderGroupMessage(key, { kind: 'group', node: nodes.join(', '), members: pendingNew.map(actionKey), first_at: pendingNew[0]!.created_at, final: false });
    pendingNew.forEach(shown);
    this.deps.log.info({ nodes, actions: pendingNew.length }, `grouped ${pendingNew.length} pending actions on ${nodes.join(', ')} into one message`);
  }

  /**
   * Whether an action's own message can go now: its evidence is stored, or EVIDENCE_WAIT_MS have
   * passed since it was proposed (then the evidence comes in one later edit). Until then a pass is
   * asked for when the wait ends.
   */
  private async evidenceSettled(a: Action, now: number): Promise<boolean> {
    const { evidence, clock, wake } = this.deps;
    if (!evidence || !clock || !wake) return true;
    const due = Date.parse(a.created_at) + EVIDENCE_WAIT_MS;
    if (now >= due || (await evidence(a.id, a.instance))) return true;
    clock.timer(due - now, wake);
    return false;
  }
}

/** Whether two lists of actions show the same in a group: the same instances, states and update times, in order. */
function sameShown(a: readonly Action[], b: readonly Action[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && (x.id !== y.id || x.instance !== y.instance || x.state !== y.state || x.updated_at !== y.updated_at)) return false;
  }
  return true;
}

/** Whether two lists hold the same objects in the same order. */
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A group record's members as a set, made once per members list (the record's, kept until it changes). */
const memberSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function membersOf(members: readonly string[]): ReadonlySet<string> {
  let set = memberSets.get(members);
  if (!set) memberSets.set(members, (set = new Set(members)));
  return set;
}
