// Buttons that decide actions: Approve / Reject / Confirm / Back on an action's own message or in
// a list, and Approve all low-risk / Reject all on a group or a list. The bot never calls Docker:
// it moves action files (docs/design/claims.md), and the executor acts.
import { Composer } from 'grammy';
import type { Action } from '../domain/actions.js';
import { TransitionError } from '../store/actions.js';
import { requireAdmin } from './auth.js';
import { actorOf, answer, onButtons, pressedOn, type BotContext, type BotKit } from './context.js';
import { parseActionKey } from './notifier.js';
import type { OutRecord } from '../store/outbox-files.js';

/** Moves a pending action on behalf of whoever pressed. */
export async function decide(kit: BotKit, ctx: BotContext, a: Action, to: 'approved' | 'rejected' | 'cancelled', extra: Record<string, unknown> = {}): Promise<Action> {
  const actor = actorOf(ctx);
  const patch = to === 'approved' ? { approved_by: actor } : to === 'rejected' ? { rejected_by: actor } : { ...extra };
  const done = await kit.deps.actions.transition({ id: a.id, from: 'pending', to, instance: a.instance, by: `telegram:${actor.id}`, patch });
  kit.deps.log.info({ id: a.id, instance: a.instance, to, user: actor.id }, `${a.id} ${to} from Telegram`);
  return done;
}

/** Decides each of `list`; those no longer pending are left alone. Returns how many moved. */
export async function decideAll(kit: BotKit, ctx: BotContext, list: Action[], to: 'approved' | 'rejected' | 'cancelled', extra: Record<string, unknown> = {}): Promise<number> {
  const done: Action[] = [];
  for (const a of list) {
    try {
      done.push(await decide(kit, ctx, a, to, extra));
    } catch (err) {
      if (!(err instanceof TransitionError)) throw err;
    }
  }
  // Their messages answer this press: buttons gone before any queued background call.
  await kit.notifier.renderDecided(done);
  return done.length;
}

/** Shows the change a press made at once: the action's own message and the list it was pressed in. */
async function showChange(kit: BotKit, a: Action, list: OutRecord | undefined): Promise<void> {
  await kit.notifier.renderActionMessage(a, { create: false, urgent: true });
  const cur = list ? kit.outbox.get(list.key) : undefined;
  if (cur?.meta.kind === 'list') await kit.notifier.renderListMessage(cur.key, cur.meta, true);
  kit.kick();
}

async function setConfirming(kit: BotKit, key: string, ref: string, where: OutRecord, on: boolean): Promise<void> {
  if (where.meta.kind === 'list') await kit.outbox.setMeta(where.key, 'list', { confirming: on ? ref : null });
  else await kit.outbox.setMeta(key, 'action', { confirming: on });
}

async function onActionButton(kit: BotKit, ctx: BotContext, op: 'approve' | 'reject' | 'confirm' | 'back' | 'skipVersion', ref: string): Promise<void> {
  const key = kit.refs.resolve(ref);
  const target = key ? parseActionKey(key) : undefined;
  if (!key || !target) return answer(ctx, 'This button is not valid any more.');
  const at = pressedOn(ctx);
  const where = at ? kit.outbox.byMessage(at.chat, at.message) : undefined;
  const own = kit.outbox.get(key);
  if (!where && own?.message_id != null) {
    // A button on an older copy of an action's message (sent again after a restart): the buttons
    // live only on the newest one, so this one loses its keyboard.
    await ctx.editMessageReplyMarkup().catch(() => {});
    return answer(ctx, 'This message was replaced by a newer one: use the buttons there.');
  }
  const a = await kit.deps.actions.find(target.id, target.instance);
  if (!a) return answer(ctx, 'This action no longer exists.');
  if (a.state !== 'pending') return answer(ctx, `Nothing changed: this action is ${a.state} now.`);
  // Where a guarded action can be confirmed: its own message, or the list it was pressed in.
  const place = where && (where.key === key || where.meta.kind === 'list') ? where : undefined;
  const confirming = place?.meta.kind === 'list' ? place.meta.confirming === ref : place?.meta.kind === 'action' && place.meta.confirming === true;
  try {
    if (op === 'approve' && a.risk === 'guarded') {
      if (!place) return answer(ctx, 'Guarded action: approve it on its own message or in /pending, where it asks you to Confirm.', true);
      await setConfirming(kit, key, ref, place, true);
      await showChange(kit, a, place);
      return answer(ctx, 'Guarded action: press Confirm to approve it.');
    }
    if (op === 'back' || (op === 'confirm' && !confirming)) {
      if (place) await setConfirming(kit, key, ref, place, false);
      await showChange(kit, a, place);
      return answer(ctx, op === 'back' ? 'Not approved.' : 'Press Approve first.');
    }
    if (op === 'skipVersion') {
      if (a.type !== 'image_update' || !kit.deps.skipVersion) return answer(ctx, 'Only an image update has a version to skip.');
      if (place && confirming) await setConfirming(kit, key, ref, place, false);
      // Rejected first, then remembered: a skip written first lets the supervisor cancel the
      // update as skipped before the person's rejection lands. The rejection's cooldown keeps the
      // next pass from proposing it again until a newer check, and the skip is on disk before that.
      const done = await decide(kit, ctx, a, 'rejected');
      await kit.deps.skipVersion(a, `telegram:${actorOf(ctx).id}`);
      await showChange(kit, done, place);
      return answer(ctx, '⏭ Skipped: this version is not proposed again; a newer one will be.');
    }
    if (place && confirming) await setConfirming(kit, key, ref, place, false);
    const done = await decide(kit, ctx, a, op === 'reject' ? 'rejected' : 'approved');
    await showChange(kit, done, place);
    return answer(ctx, op === 'reject' ? 'Rejected.' : '✅ Approved: the executor takes it from here.');
  } catch (err) {
    if (err instanceof TransitionError) return answer(ctx, `Nothing changed: this action is ${err.current?.state ?? 'gone'} now.`);
    throw err;
  }
}

/** Approve all low-risk / Reject all, on a group message or a list. */
async function onManyButton(kit: BotKit, ctx: BotContext, op: 'approveLowRisk' | 'rejectAll', ref: string): Promise<void> {
  const rec = kit.outbox.get(kit.refs.resolve(ref) ?? '');
  if (!rec || (rec.meta.kind !== 'group' && rec.meta.kind !== 'list')) return answer(ctx, 'This button is not valid any more.');
  const members = await kit.notifier.members(rec.meta.members);
  const targets = members.filter((a) => a.state === 'pending' && (op === 'rejectAll' || a.risk === 'low'));
  const n = await decideAll(kit, ctx, targets, op === 'approveLowRisk' ? 'approved' : 'rejected');
  if (rec.meta.kind === 'group') await kit.notifier.renderGroupMessage(rec.key, rec.meta, true);
  else await kit.notifier.renderListMessage(rec.key, rec.meta, true);
  kit.kick();
  await answer(ctx, n === 0 ? 'Nothing changed: none of them is pending.' : `${op === 'approveLowRisk' ? 'Approved' : 'Rejected'} ${n} action(s).`);
}

export function actionComposer(kit: BotKit): Composer<BotContext> {
  const c = new Composer<BotContext>();
  onButtons(c, ['approve', 'reject', 'confirm', 'back', 'skipVersion'], async (ctx, b) => {
    if (!(await requireAdmin(kit, ctx, `button ${b.op}`))) return;
    await onActionButton(kit, ctx, b.op as 'approve', b.ref);
  });
  onButtons(c, ['approveLowRisk', 'rejectAll'], async (ctx, b) => {
    if (!(await requireAdmin(kit, ctx, `button ${b.op}`))) return;
    await onManyButton(kit, ctx, b.op as 'approveLowRisk', b.ref);
  });
  return c;
}
