// Buttons on notices and silences: confirm a held bulk removal, remove a silence.
import { Composer } from 'grammy';
import { requireAdmin } from './auth.js';
import { silenceList } from './commands.js';
import { answer, onButtons, pressedOn, type BotContext, type BotKit } from './context.js';

export function noticeComposer(kit: BotKit): Composer<BotContext> {
  const c = new Composer<BotContext>();
  onButtons(c, ['confirmRemoval'], async (ctx, b) => {
    if (!(await requireAdmin(kit, ctx, 'button confirmRemoval'))) return;
    const rec = kit.outbox.get(kit.refs.resolve(b.ref) ?? '');
    if (rec?.meta.kind !== 'notice') return answer(ctx, 'This button is not valid any more.');
    const by = ctx.from!.username ? `@${ctx.from!.username}` : String(ctx.from!.id);
    await kit.deps.supervisorState.confirmRemoval(rec.meta.node, `telegram:${by}`, kit.deps.now());
    kit.deps.kickSupervisor();
    kit.kick();
    await answer(ctx, `Removal on ${rec.meta.node} confirmed.`);
  });
  // The reference of a silence button is the silence's own id.
  onButtons(c, ['removeSilence'], async (ctx, b) => {
    if (!(await requireAdmin(kit, ctx, 'button removeSilence'))) return;
    const n = await kit.deps.supervisorState.removeSilence(b.ref);
    kit.deps.kickSupervisor();
    await answer(ctx, n ? 'Silence removed.' : 'That silence is gone already.');
    // The list the button was on shows what is left (its entry and button gone).
    const at = pressedOn(ctx);
    const rec = at ? kit.outbox.byMessage(at.chat, at.message) : undefined;
    if (rec) {
      const r = await silenceList(kit);
      await kit.outbox.upsert(rec.key, { chatId: rec.chat_id, text: r.text, buttons: r.buttons, meta: rec.meta, urgent: true });
    }
  });
  return c;
}
