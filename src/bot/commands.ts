// The commands that look (/status, /history, /silence and /maintenance without arguments, /help)
// and /silence and /maintenance, which change something (admins).
import { Composer } from 'grammy';
import { TERMINAL_STATES } from '../domain/actions.js';
import { unknownTarget } from '../domain/schemas.js';
import { parseDuration } from '../domain/duration.js';
import { requireAdmin } from './auth.js';
import { encode } from './callback-data.js';
import type { BotContext, BotKit } from './context.js';
import { esc } from './render.js';
import { HELP_TEXT, renderHistory, renderMaintenance, renderSilences, renderStatus } from './render-replies.js';
import type { Buttons } from './render.js';
import type { TargetWindows } from '../store/target-windows.js';

/** The /silence list as it is now: text and a Remove button per silence. */
export async function silenceList(kit: BotKit): Promise<ReturnType<typeof renderSilences>> {
  const { deps } = kit;
  return renderSilences(await deps.supervisorState.silenceWindows.current(deps.now()), deps.now(), (id) => encode({ op: 'removeSilence', ref: id }));
}

/** What /silence and /maintenance say and do (both add a window for a node or a service). */
interface WindowCommand {
  name: 'silence' | 'maintenance';
  windows: (kit: BotKit) => TargetWindows;
  list: (kit: BotKit) => Promise<{ text: string; buttons: Buttons }>;
  usage: string;
  refused: string;
  done: (merged: boolean) => string;
}

/** `/<name> target duration [reason]` (an admin), `/<name> stop target` (maintenance), or the list (anyone). */
async function windowCommand(kit: BotKit, ctx: BotContext, cmd: WindowCommand): Promise<void> {
  const { deps } = kit;
  const args = String(ctx.match ?? '').trim().split(/\s+/).filter(Boolean);
  if (args.length === 0) {
    const r = await cmd.list(kit);
    return void (await kit.reply(ctx, r.text, { buttons: r.buttons }));
  }
  if (!(await requireAdmin(kit, ctx, `/${cmd.name}`))) return;
  if (cmd.name === 'maintenance' && args[0] === 'stop' && args.length === 2) {
    const n = await cmd.windows(kit).remove(args[1]!);
    deps.kickSupervisor();
    return void (await kit.reply(ctx, n ? `🛠 Maintenance of <b>${esc(args[1]!)}</b> stopped: what still drifts is proposed now, with a summary.` : `No ad hoc maintenance for ${esc(args[1]!)}.`));
  }
  const [target, duration, ...reason] = args;
  let ms: number;
  try {
    if (!duration) throw new Error('missing duration');
    ms = parseDuration(duration);
  } catch {
    return void (await kit.reply(ctx, cmd.usage));
  }
  const unknown = unknownTarget(deps.desired(), target!);
  if (unknown) return void (await kit.reply(ctx, `${cmd.refused}: ${esc(unknown)}.`));
  try {
    const by = ctx.from?.username ? `@${ctx.from.username}` : String(ctx.from?.id);
    const w = await cmd.windows(kit).add(target!, ms, deps.now(), { reason: reason.join(' ') || undefined, by: `telegram:${by}` });
    deps.kickSupervisor();
    await kit.reply(ctx, `${cmd.done(w.merged === true)} <b>${esc(w.target)}</b> until ${w.until.slice(0, 16).replace('T', ' ')} UTC${w.reason ? `: ${esc(w.reason)}` : ''}.`);
  } catch (err) {
    await kit.reply(ctx, esc((err as Error).message));
  }
}

const SILENCE: WindowCommand = {
  name: 'silence',
  windows: (kit) => kit.deps.supervisorState.silenceWindows,
  list: silenceList,
  usage: 'Usage: /silence &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason], e.g. /silence piha/webui 2h router swap',
  refused: 'Not silenced',
  done: (merged) => `🔕 ${merged ? 'Silence extended for' : 'Silenced'}`,
};

const MAINTENANCE: WindowCommand = {
  name: 'maintenance',
  windows: (kit) => kit.deps.supervisorState.maintenanceWindows,
  list: async (kit) => renderMaintenance(await kit.deps.supervisorState.maintenanceWindows.current(kit.deps.now()), kit.deps.now()),
  usage: 'Usage: /maintenance &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason], /maintenance stop &lt;node&gt;[/&lt;service&gt;], or /maintenance for the list',
  refused: 'No maintenance started',
  done: (merged) => `🛠 ${merged ? 'Maintenance extended for' : 'Maintenance of'}`,
};

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
  c.command('silence', (ctx) => windowCommand(kit, ctx, SILENCE));
  c.command('maintenance', (ctx) => windowCommand(kit, ctx, MAINTENANCE));
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
  { command: 'maintenance', description: 'Maintenance: quiet until it ends (list, start, stop)' },
  { command: 'logs', description: 'The last log lines of a service (admins)' },
  { command: 'recover', description: 'Replay world, diagnose a flood, cancel all pending' },
  { command: 'help', description: 'What this bot does' },
];
