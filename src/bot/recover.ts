// /recover: replay the world from all events, diagnose a flood of pending actions, cancel all
// pending (each with a confirmation step). One menu message, edited in place.
import { Composer } from 'grammy';
import { diagnose } from '../domain/diagnose.js';
import { requireAdmin } from './auth.js';
import { decideAll } from './actions.js';
import { buttonsFor, type Op } from './callback-data.js';
import { answer, onButtons, threadOf, type BotContext, type BotKit } from './context.js';
import type { Buttons } from './render.js';
import { renderDiagnosis } from './render-replies.js';

const RECOVER_OPS: readonly Op[] = ['recoverMenu', 'replay', 'replayConfirmed', 'diagnose', 'cancelAll', 'cancelAllConfirmed'];

function menu(d: ReturnType<typeof buttonsFor>): [string, Buttons] {
  return [
    '🛠 <b>Recover</b>: what do you want to do?',
    [
      [{ text: '🔁 Replay world from events', data: d('replay') }],
      [{ text: '🩺 Diagnose a flood of pending actions', data: d('diagnose') }],
      [{ text: '🗑 Cancel all pending', data: d('cancelAll') }],
    ],
  ];
}

/** What each step of the menu shows (text, buttons) and answers, after doing its part. */
async function step(kit: BotKit, ctx: BotContext, op: Op, d: ReturnType<typeof buttonsFor>): Promise<[string, Buttons, string]> {
  switch (op) {
    case 'replay':
      return ['🔁 <b>Replay world state from all events?</b>\nThe observer forgets its checkpoint and reads every event again (from the snapshot of the days retention removed). Actions are not touched.', [[{ text: '⚠️ Yes, replay', data: d('replayConfirmed') }, { text: '↩️ Back', data: d('recoverMenu') }]], 'Confirm to replay.'];
    case 'replayConfirmed': {
      const r = await kit.deps.replay();
      return [`🔁 World replayed: ${r.applied} events applied, ${r.malformed} malformed lines skipped.`, [], 'Replayed.'];
    }
    case 'diagnose':
      return [renderDiagnosis(diagnose(kit.deps.world(), kit.deps.desired(), kit.deps.now()), kit.deps.now()), [], 'Diagnosis below.'];
    case 'cancelAll': {
      const n = (await kit.deps.actions.list('pending')).length;
      return [
        `🗑 <b>Cancel all ${n} pending actions?</b>\nThey move to cancelled/ with reason cancelled_by_operator, which holds like a rejection: none of them is proposed again for 10 min (doubling on each repeat, up to 6 h), unless it is still needed after that.`,
        [[{ text: `⚠️ Yes, cancel ${n}`, data: d('cancelAllConfirmed') }, { text: '↩️ Back', data: d('recoverMenu') }]],
        'Confirm to cancel.',
      ];
    }
    case 'cancelAllConfirmed': {
      const n = await decideAll(kit, ctx, await kit.deps.actions.list('pending'), 'cancelled', { cancel_reason: 'cancelled_by_operator' });
      kit.kick();
      return [`🗑 Cancelled ${n} pending action(s).`, [], `Cancelled ${n}.`];
    }
    default:
      return [...menu(d), 'OK'];
  }
}

export function recoverComposer(kit: BotKit): Composer<BotContext> {
  const c = new Composer<BotContext>();
  c.command('recover', async (ctx) => {
    if (!(await requireAdmin(kit, ctx, '/recover'))) return;
    const key = `recover:${ctx.update.update_id}`;
    const [text, buttons] = menu(buttonsFor(kit.refs.ref(key)));
    await kit.outbox.upsert(key, { chatId: kit.deps.options.chatId, ...threadOf(ctx), text, buttons, meta: { kind: 'recover', final: false }, urgent: true });
  });
  onButtons(c, RECOVER_OPS, async (ctx, b) => {
    if (!(await requireAdmin(kit, ctx, `button ${b.op}`))) return;
    const rec = kit.outbox.get(kit.refs.resolve(b.ref) ?? '');
    if (rec?.meta.kind !== 'recover') return answer(ctx, 'This button is not valid any more.');
    // A replay can take a while: the press is answered first (Telegram waits about 15 s).
    if (b.op === 'replayConfirmed') await answer(ctx, 'Replaying…');
    const [text, buttons, note] = await step(kit, ctx, b.op, buttonsFor(b.ref));
    await kit.outbox.upsert(rec.key, { chatId: rec.chat_id, text, buttons, meta: { kind: 'recover', final: false }, urgent: true });
    if (b.op !== 'replayConfirmed') await answer(ctx, note);
  });
  return c;
}
