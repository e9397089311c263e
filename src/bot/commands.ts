// The commands that look (/status, /history, /silence without arguments, /help) and /silence,
// which changes something (admins).
import { Composer } from 'grammy';
import { TERMINAL_STATES } from '../domain/actions.js';
import { unknownTarget } from '../domain/schemas.js';
import { parseDuration } from '../domain/duration.js';
import { requireAdmin } from './auth.js';
import { encode } from './callback-data.js';
import type { BotContext, BotKit } from './context.js';
import { esc } from './render.js';
import { HELP_TEXT, renderHistory, renderSilences, renderStatus } from './render-replies.js';

/** The /silence list as it is now: text and a Remove button per silence. */
export async function silenceList(kit: BotKit): Promise<ReturnType<typeof renderSilences>> {
  const { deps } = kit;
  return renderSilences(await deps.supervisorState.activeSilences(deps.now()), deps.now(), (id) => encode({ op: 'removeSilence', ref: id }));
}

/** /silence target duration [reason] (an admin), or the list of silences (anyone). */
async function silence(kit: BotKit, ctx: BotContext): Promise<void> {
  const { deps } = kit;
  const args = String(ctx.match ?? '').trim().split(/\s+/).filter(Boolean);
  if (args.length === 0) {
    const r = await silenceList(kit);
    return void (await kit.reply(ctx, r.text, { buttons: r.buttons }));
  }
  if (!(await requireAdmin(kit, ctx, '/silence'))) return;
  const [target, duration, ...reason] = args;
  let ms: number;
  try {
    if (!duration) throw new Error('missing duration');
    ms = parseDuration(duration);
  } catch {
    return void (await kit.reply(ctx, 'Usage: /silence &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason], e.g. /silence piha/webui 2h router swap'));
  }
  const unknown = unknownTarget(deps.desired(), target!);
  if (unknown) return void (await kit.reply(ctx, `Not silenced: ${esc(unknown)}.`));
  try {
    const by = ctx.from?.username ? `@${ctx.from.username}` : String(ctx.from?.id);
    const s = await deps.supervisorState.addSilence(target!, ms, deps.now(), { reason: reason.join(' ') || undefined, by: `telegram:${by}` });
    deps.kickSupervisor();
    await kit.reply(ctx, `🔕 ${s.merged ? 'Silence extended for' : 'Silenced'} <b>${esc(s.target)}</b> until ${s.until.slice(0, 16).replace('T', ' ')} UTC${s.reason ? `: ${esc(s.reason)}` : ''}.`);
  } catch (err) {
    await kit.reply(ctx, esc((err as Error).message));
  }
}

export function commandComposer(kit: BotKit): Composer<BotContext> {
  const c = new Composer<BotContext>();
  const { deps } = kit;
  c.command(['help', 'start'], async (ctx) => void (await kit.reply(ctx, HELP_TEXT)));
  c.command('status', async (ctx) => void (await kit.reply(ctx, renderStatus(await deps.summary(), deps.now()))));
  c.command('history', async (ctx) => {
    const n = Math.min(50, Math.max(1, Number.parseInt(String(ctx.match ?? '').trim() || '10', 10) || 10));
    const { actions: list } = await deps.actions.query({ states: TERMINAL_STATES, limit: n });
    await kit.reply(ctx, renderHistory(list, deps.now()));
  });
  c.command('silence', (ctx) => silence(kit, ctx));
  // Any other command (ours; one for another bot, /cmd@otherbot, is not ours to answer): say so.
  c.on('message:entities:bot_command', async (ctx, next) => {
    const entity = ctx.message.entities.find((e) => e.type === 'bot_command' && e.offset === 0);
    if (!entity) return next();
    const [name, to] = ctx.message.text.slice(1, entity.length).split('@');
    if (to !== undefined && to.toLowerCase() !== ctx.me.username.toLowerCase()) return next();
    await kit.reply(ctx, `Unknown command /${esc(name)}. /help lists what this bot does.`);
  });
  return c;
}

/** The command menu Telegram shows in our chat. */
export const COMMAND_MENU = [
  { command: 'status', description: 'Nodes, unhealthy services, actions' },
  { command: 'pending', description: 'Actions waiting for a decision' },
  { command: 'history', description: 'The last finished actions' },
  { command: 'silence', description: 'Silence a node or service for a while' },
  { command: 'logs', description: 'The last log lines of a service (admins)' },
  { command: 'recover', description: 'Replay world, diagnose a flood, cancel all pending' },
  { command: 'help', description: 'What this bot does' },
];
