// Logs from the chat, read-only and for admins: the 📜 Logs button of an action (its stored tail,
// fetched fresh when older than 5 minutes) and /logs <node>/<service> [lines] for a service that
// services.yaml names. The bot never reads an engine itself: it asks the inspector. And the 📄
// Details button: the whole text of what an action's message shows cut.
import { Composer } from 'grammy';
import { MAX_LOG_LINES } from '../loops/inspector.js';
import { serviceTarget, unknownTarget } from '../domain/schemas.js';
import { requireAdmin } from './auth.js';
import { answer, onButtons, type BotContext, type BotKit } from './context.js';
import { parseActionKey } from './notifier.js';
import { esc, renderDetails, renderLogs } from './render.js';

/** Stored evidence older than this is read again when its Logs are opened. */
export const FRESH_AFTER_MS = 5 * 60_000;

const USAGE = `Usage: /logs &lt;node&gt;/&lt;service&gt; [lines], lines 1–${MAX_LOG_LINES} (default 30), e.g. /logs piha/webui 50`;

async function logsCommand(kit: BotKit, ctx: BotContext): Promise<void> {
  if (!(await requireAdmin(kit, ctx, '/logs', 'read logs'))) return;
  const evidence = kit.deps.evidence;
  if (!evidence) return void (await kit.reply(ctx, 'Logs are not available here.'));
  const [target, count, ...rest] = String(ctx.match ?? '').trim().split(/\s+/).filter(Boolean);
  const lines = count === undefined ? 30 : Number(count);
  const t = serviceTarget(target);
  if (!t || rest.length > 0 || !Number.isInteger(lines) || lines < 1 || lines > MAX_LOG_LINES) return void (await kit.reply(ctx, USAGE));
  // Only a service services.yaml names (its containers, nothing else) is read.
  const unknown = unknownTarget(kit.deps.desired(), target!);
  if (unknown) return void (await kit.reply(ctx, `Not read: ${esc(unknown)}. /logs reads only the containers services.yaml names for a service.`));
  const e = await evidence.tail(t.node, t.service, lines);
  await kit.reply(ctx, renderLogs(`Logs of ${t.service} on ${t.node}`, e));
}

export function logsComposer(kit: BotKit): Composer<BotContext> {
  const c = new Composer<BotContext>();
  c.command('logs', (ctx) => logsCommand(kit, ctx));
  onButtons(c, ['logs'], async (ctx, b) => {
    if (!(await requireAdmin(kit, ctx, 'button logs', 'read logs'))) return;
    const key = kit.refs.resolve(b.ref);
    const target = key ? parseActionKey(key) : undefined;
    const a = target ? await kit.deps.actions.find(target.id, target.instance) : undefined;
    if (!a || !kit.deps.evidence) return answer(ctx, 'This button is not valid any more.');
    await answer(ctx, 'The logs follow.');
    let e = await kit.deps.evidence.get(a.id, a.instance);
    if (!e || kit.deps.now() - Date.parse(e.collected_at) > FRESH_AFTER_MS) e = await kit.deps.evidence.fresh(a);
    await kit.reply(ctx, renderLogs(`Logs of ${a.service ?? a.node} on ${a.node}`, e));
  });
  // The whole of what the action's message shows cut: the same facts, so anyone in the chat.
  onButtons(c, ['details'], async (ctx, b) => {
    const key = kit.refs.resolve(b.ref);
    const target = key ? parseActionKey(key) : undefined;
    const a = target ? await kit.deps.actions.find(target.id, target.instance) : undefined;
    if (!a) return answer(ctx, 'This button is not valid any more.');
    await answer(ctx, 'The details follow.');
    await kit.reply(ctx, renderDetails(a, await kit.deps.evidence?.get(a.id, a.instance)));
  });
  return c;
}
