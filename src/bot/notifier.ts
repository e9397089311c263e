// Keeps the chat in step with the action and notice files, level-triggered: every pass renders
// what each living message should say and hands it to the outbox, whoever changed the file
// (a button, the CLI, `mv`, the supervisor, the executor).
import { isOpen, type Action } from '../domain/actions.js';
import type { Logger } from '../log.js';
import type { ActionStore } from '../store/actions.js';
import type { StoredNotice, SupervisorState } from '../store/supervisor-state.js';
import { Outbox } from './outbox.js';
import { renderAction, renderGroup, renderNotice } from './render.js';

/** More than this many actions pending within BURST_WINDOW_MS are grouped per node. */
export const BURST_THRESHOLD = 3;
export const BURST_WINDOW_MS = 30_000;
/** New pending actions wait this long for more to arrive, so a burst is seen as one. */
const SETTLE_MS = 400;
const SETTLE_MAX_MS = 2_000;

export const actionKey = (a: { id: string; instance: string }) => `action:${a.id}@${a.instance}`;
const noticeKey = (n: StoredNotice) => `notice:${n.key}@${n.opened_at}`;

export interface NotifierDeps {
  actions: ActionStore;
  supervisorState: SupervisorState;
  outbox: Outbox;
  chatId: string;
  log: Logger;
  now: () => number;
  /** Asks for another pass in `ms` (to let a burst settle). */
  later: (ms: number) => void;
}

export class Notifier {
  constructor(private readonly deps: NotifierDeps) {}

  data(key: string): (op: string) => string {
    const ref = Outbox.refFor(key);
    return (op) => `${op}:${ref}`;
  }

  async renderActionMessage(a: Action): Promise<void> {
    const key = actionKey(a);
    const rec = this.deps.outbox.get(key);
    const confirming = rec?.meta.confirming === true;
    const r = renderAction(a, this.data(key), { confirming, now: this.deps.now() });
    const final = !isOpen(a.state) && (a.state !== 'completed' || a.type === 'disk_cleanup' || typeof a.verified === 'boolean');
    await this.deps.outbox.upsert(key, { chatId: this.deps.chatId, text: r.text, buttons: r.buttons, meta: { kind: 'action', id: a.id, instance: a.instance, final } });
  }

  async sync(): Promise<void> {
    const { actions, outbox, now } = this.deps;
    const open = await actions.listOpen();
    const records = outbox.all();
    const grouped = new Set<string>();
    for (const r of records) {
      if (r.meta.kind === 'group' && r.meta.expanded !== true) for (const m of (r.meta.members as string[]) ?? []) grouped.add(m);
    }

    // 1. Messages already in the chat follow their action to its end.
    for (const r of records) {
      if (r.meta.kind !== 'action' || r.meta.final === true) continue;
      const a = await actions.find(String(r.meta.id), String(r.meta.instance));
      if (a) await this.renderActionMessage(a);
    }
    // 2. Groups follow their members.
    for (const r of records) {
      if (r.meta.kind !== 'group' || r.meta.final === true) continue;
      const members: Action[] = [];
      for (const m of (r.meta.members as string[]) ?? []) {
        const [id, instance] = m.slice('action:'.length).split('@') as [string, string];
        const a = await actions.find(id, instance);
        if (a) members.push(a);
      }
      const g = renderGroup(String(r.meta.node), members, this.data(r.key), now());
      await outbox.upsert(r.key, { chatId: r.chat_id, text: g.text, buttons: g.buttons, meta: { final: members.every((m) => !isOpen(m.state)) } });
      if (r.meta.expanded === true) for (const a of members) if (!outbox.get(actionKey(a))) await this.renderActionMessage(a);
    }
    // 3. Open actions nobody has seen yet: one message each, or one per node in a burst.
    const fresh = open.filter((a) => !outbox.get(actionKey(a)) && !grouped.has(actionKey(a)));
    if (fresh.length > 0) {
      const t = now();
      const newest = Math.max(...fresh.map((a) => Date.parse(a.created_at)));
      const oldest = Math.min(...fresh.map((a) => Date.parse(a.created_at)));
      if (t - newest < SETTLE_MS && t - oldest < SETTLE_MAX_MS) {
        this.deps.later(SETTLE_MS - (t - newest) + 10);
      } else {
        const recent = open.filter((a) => t - Date.parse(a.created_at) < BURST_WINDOW_MS && a.state === 'pending');
        const burst = recent.length > BURST_THRESHOLD;
        const byNode = new Map<string, Action[]>();
        for (const a of fresh) byNode.set(a.node, [...(byNode.get(a.node) ?? []), a]);
        for (const [node, list] of byNode) {
          const pendingHere = list.filter((a) => a.state === 'pending');
          if (burst && pendingHere.length >= 2) {
            const key = `group:${node}:${pendingHere[0]!.created_at}`;
            const g = renderGroup(node, pendingHere, this.data(key), t);
            await outbox.upsert(key, { chatId: this.deps.chatId, text: g.text, buttons: g.buttons, meta: { kind: 'group', node, members: pendingHere.map(actionKey), final: false } });
            this.deps.log.info({ node, actions: pendingHere.length }, `grouped ${pendingHere.length} pending actions on ${node} into one message`);
            for (const a of list.filter((x) => x.state !== 'pending')) await this.renderActionMessage(a);
          } else {
            for (const a of list) await this.renderActionMessage(a);
          }
        }
      }
    }
    // 4. Notices: sent once when they open, edited when they change or close.
    for (const n of await this.deps.supervisorState.notices()) {
      const key = noticeKey(n);
      const rec = outbox.get(key);
      if (!rec && n.state === 'closed') continue;
      if (rec?.meta.final === true) continue;
      const r = renderNotice(n, this.data(key));
      await outbox.upsert(key, { chatId: this.deps.chatId, text: r.text, buttons: r.buttons, meta: { kind: 'notice', notice: n.key, node: n.node, final: n.state === 'closed' } });
    }
  }
}
