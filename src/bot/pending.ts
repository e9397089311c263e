// /pending and the lists it opens: one message however many actions wait. The summary shows the
// counts by node and type, the oldest few with buttons, Approve all low-risk, and Show each, which
// turns the same message into pages of ten (a group's Show each opens such a list too).
import { Composer } from 'grammy';
import { answer, onButtons, threadOf, type BotContext, type BotKit } from './context.js';
import { actionKey } from './notifier.js';
import type { MetaOf } from '../store/outbox-files.js';

/** A list keeps at most this many actions (the oldest first); the summary says how many more. */
const MAX_MEMBERS = 1000;

/** Sends a new list message; an older list of the same title loses its buttons. */
export async function openList(kit: BotKit, ctx: BotContext, title: string, members: string[], view: 'summary' | number): Promise<void> {
  for (const r of kit.outbox.all()) {
    if (r.meta.kind === 'list' && !r.meta.superseded && r.meta.title === title) await kit.notifier.renderListMessage(r.key, { ...r.meta, superseded: true });
  }
  const key = `list:${ctx.update.update_id}`;
  const meta: MetaOf<'list'> = { kind: 'list', title, members: members.slice(0, MAX_MEMBERS), view, confirming: null, superseded: false, final: false };
  await kit.notifier.renderListMessage(key, meta, true, threadOf(ctx).threadId);
}

async function pendingList(kit: BotKit, ctx: BotContext): Promise<void> {
  const { actions } = await kit.deps.actions.query({ states: ['pending'], order: 'oldest', limit: MAX_MEMBERS });
  if (actions.length === 0) return void (await kit.reply(ctx, '✅ Nothing is waiting for a decision.'));
  await openList(kit, ctx, 'Pending', actions.map(actionKey), 'summary');
}

export function pendingComposer(kit: BotKit): Composer<BotContext> {
  const c = new Composer<BotContext>();
  c.command('pending', (ctx) => pendingList(kit, ctx));
  // Looking is for anyone in the chat: these buttons change no action.
  onButtons(c, ['page'], async (ctx, b) => {
    const rec = kit.outbox.get(kit.refs.resolve(b.ref) ?? '');
    if (rec?.meta.kind !== 'list') return answer(ctx, 'This button is not valid any more.');
    await kit.notifier.renderListMessage(rec.key, { ...rec.meta, view: b.n ?? 0, confirming: null }, true);
    await answer(ctx, `Page ${(b.n ?? 0) + 1}.`);
  });
  onButtons(c, ['showEach'], async (ctx, b) => {
    const rec = kit.outbox.get(kit.refs.resolve(b.ref) ?? '');
    if (rec?.meta.kind !== 'group') return answer(ctx, 'This button is not valid any more.');
    await openList(kit, ctx, `${rec.meta.members.length} actions on ${rec.meta.node}`, rec.meta.members, 0);
    await answer(ctx, 'Each of them, ten per page, in one message below.');
  });
  onButtons(c, ['openPending'], async (ctx, b) => {
    if (!kit.refs.resolve(b.ref)) return answer(ctx, 'This button is not valid any more.');
    await pendingList(kit, ctx);
    await answer(ctx, 'The pending list is below.');
  });
  return c;
}
