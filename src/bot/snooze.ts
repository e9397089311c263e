// 💤 Snooze on an action's message (docs/operator/telegram.md): an hour, until the next 08:00 in
// TZ, or until its service recovers. A snooze is a silence of the service (the same store, CLI and
// page as /silence) recording who made it and from which message; the pending action is cancelled
// (`cancelled_by_snooze`; the silence is what holds it, no cooldown after it) and its message says until when and by
// whom, with ⏰ Unsnooze. When a snooze ends with the drift still there, the next pass proposes it.
import { Composer } from 'grammy';
import type { Action } from '../domain/actions.js';
import { nextWallClock } from '../domain/time-intervals.js';
import { TransitionError } from '../store/actions.js';
import { requireAdmin } from './auth.js';
import { actorOf, answer, onButtons, type BotContext, type BotKit } from './context.js';
import { decide } from './actions.js';
import { parseActionKey } from './notifier.js';
import { hhmm } from './render.js';

/** A snooze "until it recovers" still ends some day: after this long at most. */
export const RECOVER_SNOOZE_MAX_MS = 7 * 86_400_000;
const HOUR_MS = 3_600_000;

async function actionOf(kit: BotKit, ref: string): Promise<Action | undefined> {
  const key = kit.refs.resolve(ref);
  const target = key ? parseActionKey(key) : undefined;
  return target ? kit.deps.actions.find(target.id, target.instance) : undefined;
}

/** Until when a snooze made now lasts. */
function snoozeUntil(kit: BotKit, how: 'snoozeHour' | 'snoozeMorning' | 'snoozeRecover', now: number): number {
  return how === 'snoozeHour' ? now + HOUR_MS : how === 'snoozeMorning' ? nextWallClock(now, kit.deps.options.tz, '08:00') : now + RECOVER_SNOOZE_MAX_MS;
}

/** 💤 on a notice: a silence of its node (or service); the notice says so while it lasts. */
async function snoozeNotice(kit: BotKit, ctx: BotContext, how: 'snoozeHour' | 'snoozeMorning' | 'snoozeRecover', key: string): Promise<void> {
  const { deps } = kit;
  const rec = kit.outbox.get(key);
  if (rec?.meta.kind !== 'notice' || rec.meta.final) return answer(ctx, 'This notice is over.');
  const stored = (await deps.supervisorState.notices()).find((n) => `notice:${n.key}@${n.opened_at}` === key);
  if (!stored || stored.state !== 'open') return answer(ctx, 'This notice is over.');
  const now = deps.now();
  const target = stored.service ? `${stored.node}/${stored.service}` : stored.node;
  const recover = how === 'snoozeRecover';
  const s = await deps.supervisorState.silenceWindows.add(target, snoozeUntil(kit, how, now) - now, now, { by: `telegram:${actorOf(ctx).name}`, reason: `snoozed from the notice ${stored.key}`, snooze: { message: `notice:${stored.key}`, recover } });
  deps.kickSupervisor();
  kit.kick();
  return answer(ctx, recover ? `💤 Snoozed ${target} until it recovers.` : `💤 Snoozed ${target} until ${hhmm(s.until)}.`);
}

async function snooze(kit: BotKit, ctx: BotContext, how: 'snoozeHour' | 'snoozeMorning' | 'snoozeRecover', ref: string): Promise<void> {
  const { deps } = kit;
  const key = kit.refs.resolve(ref);
  if (key?.startsWith('notice:')) return snoozeNotice(kit, ctx, how, key);
  const a = await actionOf(kit, ref);
  if (!a) return answer(ctx, 'This action no longer exists.');
  if (a.state !== 'pending') return answer(ctx, `Nothing changed: this action is ${a.state} now.`);
  const now = deps.now();
  const until = snoozeUntil(kit, how, now);
  const actor = actorOf(ctx);
  const by = actor.name;
  const target = a.service ? `${a.node}/${a.service}` : a.node;
  const recover = how === 'snoozeRecover';
  const s = await deps.supervisorState.silenceWindows.add(target, until - now, now, { by: `telegram:${by}`, reason: `snoozed from ${a.id}`, snooze: { message: `${a.id}@${a.instance}`, recover } });
  try {
    const done = await decide(kit, ctx, a, 'cancelled', { cancel_reason: 'cancelled_by_snooze', snooze: { id: s.id, until: s.until, recover, by } });
    await kit.notifier.renderActionMessage(done, { create: false, urgent: true });
  } catch (err) {
    // Approved or rejected meanwhile: that decision stands, and so does no snooze.
    await deps.supervisorState.silenceWindows.remove(s.id);
    if (err instanceof TransitionError) return answer(ctx, `Nothing changed: this action is ${err.current?.state ?? 'gone'} now.`);
    throw err;
  }
  deps.kickSupervisor();
  kit.kick();
  return answer(ctx, recover ? `💤 Snoozed ${target} until it recovers.` : `💤 Snoozed ${target} until ${hhmm(s.until)}.`);
}

async function unsnooze(kit: BotKit, ctx: BotContext, ref: string): Promise<void> {
  const { deps } = kit;
  const key = kit.refs.resolve(ref);
  if (key?.startsWith('notice:')) {
    const notice = key.slice('notice:'.length, key.lastIndexOf('@'));
    const made = (await deps.supervisorState.silenceWindows.current(deps.now())).filter((s) => s.snooze?.message === `notice:${notice}`);
    for (const s of made) await deps.supervisorState.silenceWindows.remove(s.id);
    deps.kickSupervisor();
    kit.kick();
    return answer(ctx, made.length ? '⏰ Unsnoozed.' : 'That snooze was over already.');
  }
  const a = await actionOf(kit, ref);
  if (!a?.snooze || a.state !== 'cancelled') return answer(ctx, 'This button is not valid any more.');
  if (a.snooze.unsnoozed_at) return answer(ctx, 'Unsnoozed already.');
  const n = await deps.supervisorState.silenceWindows.remove(a.snooze.id);
  const at = new Date(deps.now()).toISOString();
  const updated = await deps.actions.annotate('cancelled', a, { snooze: { ...a.snooze, unsnoozed_by: actorOf(ctx).name, unsnoozed_at: at } });
  if (updated) await kit.notifier.renderActionMessage(updated, { create: false, urgent: true });
  deps.kickSupervisor();
  kit.kick();
  return answer(ctx, n ? '⏰ Unsnoozed: proposed again at once if it still drifts.' : 'That snooze was over already.');
}

export function snoozeComposer(kit: BotKit): Composer<BotContext> {
  const c = new Composer<BotContext>();
  onButtons(c, ['snoozeHour', 'snoozeMorning', 'snoozeRecover'], async (ctx, b) => {
    if (!(await requireAdmin(kit, ctx, `button ${b.op}`))) return;
    await snooze(kit, ctx, b.op as 'snoozeHour', b.ref);
  });
  onButtons(c, ['unsnooze'], async (ctx, b) => {
    if (!(await requireAdmin(kit, ctx, 'button unsnooze'))) return;
    await unsnooze(kit, ctx, b.ref);
  });
  return c;
}
