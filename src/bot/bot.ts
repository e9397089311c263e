// The Telegram bot (grammY, long polling): living action messages, buttons, commands, digest.
// It never calls Docker: it moves action files, and the executor acts.
import path from 'node:path';
import { Bot, Composer, GrammyError, InlineKeyboard, type Context } from 'grammy';
import cron from 'node-cron';
import type { Action } from '../domain/actions.js';
import { unknownTarget, type DesiredState, type World } from '../domain/schemas.js';
import { TERMINAL_STATES } from '../domain/actions.js';
import { ago, type Summary } from '../domain/summary.js';
import type { Logger } from '../log.js';
import { Runner } from '../loops/runner.js';
import { ConfigError } from '../config.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../time/backoff.js';
import { realClock, type Clock } from '../time/clock.js';
import { ActionStore, TransitionError } from '../store/actions.js';
import { readJsonFile, writeJsonAtomic } from '../store/atomic.js';
import { parseDuration, type SupervisorState } from '../store/supervisor-state.js';
import { actionKey, Notifier } from './notifier.js';
import { Outbox, type TelegramTransport } from './outbox.js';
import { esc, HELP_TEXT, renderBrief, renderHistory, renderSilences, renderStatus, splitText, type Buttons } from './render.js';

export interface TelegramOptions {
  token: string;
  chatId: string;
  adminIds: readonly number[];
  apiRoot: string;
  digestCron: string;
  tz: string;
  pageUrl?: string;
  intervalMs: number;
  /** Long-polling timeout in seconds (Telegram's default use is 30). */
  pollTimeoutS?: number;
  /** The forum topic every message goes to (TELEGRAM_THREAD_ID). */
  threadId?: number;
}

export interface TelegramDeps {
  options: TelegramOptions;
  stateDir: string;
  actions: ActionStore;
  supervisorState: SupervisorState;
  log: Logger;
  now: () => number;
  /** Timers of the bot's loop (default: the real clock). */
  clock?: Clock;
  summary: () => Promise<Summary>;
  world: () => World;
  desired: () => DesiredState;
  /** Replays world state from all events; resolves with what it read. */
  replay: () => Promise<{ applied: number; malformed: number }>;
  /** Something changed that the supervisor should look at now. */
  kickSupervisor: () => void;
}

const DATA_RE = /^([a-zA-Z]{2}):([A-Za-z0-9_-]{1,20})$/;

function markup(buttons: Buttons): InlineKeyboard {
  const kb = new InlineKeyboard();
  buttons.forEach((row, i) => {
    for (const b of row) kb.text(b.text, b.data);
    if (i < buttons.length - 1) kb.row();
  });
  return kb;
}

export class TelegramBot {
  readonly bot: Bot;
  readonly outbox: Outbox;
  readonly notifier: Notifier;
  readonly loop: Runner;
  private cronTask: ReturnType<typeof cron.schedule> | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  /** Aborts getMe, the retry sleeps and the polling setup when the bot stops. */
  private readonly abort = new AbortController();
  private cancelLater: (() => void) | undefined;
  private readonly clock: Clock;
  readonly stats = { updates: 0, callbacks: 0, unauthorized: 0 };

  constructor(private readonly deps: TelegramDeps) {
    const { options, log } = deps;
    this.clock = deps.clock ?? realClock;
    this.bot = new Bot(options.token, { client: { apiRoot: options.apiRoot } });
    const transport: TelegramTransport = {
      sendMessage: async (chatId, text, buttons, threadId, plain) => {
        const m = await this.bot.api.sendMessage(chatId, text, {
          ...(threadId !== undefined ? { message_thread_id: threadId } : {}),
          ...(plain ? {} : { parse_mode: 'HTML' as const }),
          link_preview_options: { is_disabled: true },
          ...(buttons.length ? { reply_markup: markup(buttons) } : {}),
        });
        return { message_id: m.message_id };
      },
      editMessageText: async (chatId, messageId, text, buttons, plain) => {
        await this.bot.api.editMessageText(chatId, messageId, text, {
          ...(plain ? {} : { parse_mode: 'HTML' as const }),
          link_preview_options: { is_disabled: true },
          // No buttons: no reply_markup at all (an edit without one removes the keyboard; an empty
          // InlineKeyboard would be sent as [[]], which Telegram refuses).
          ...(buttons.length ? { reply_markup: markup(buttons) } : {}),
        });
      },
    };
    this.outbox = new Outbox({ dir: path.join(deps.stateDir, 'telegram', 'outbox'), transport, log: log.child({ part: 'outbox' }), clock: this.clock, pageUrl: options.pageUrl, ...(options.threadId !== undefined ? { threadId: options.threadId } : {}) });
    this.notifier = new Notifier({
      actions: deps.actions,
      supervisorState: deps.supervisorState,
      outbox: this.outbox,
      chatId: options.chatId,
      log,
      now: deps.now,
      later: (ms) => {
        this.cancelLater?.();
        this.cancelLater = this.clock.timer(ms, () => this.loop.kick());
      },
    });
    this.loop = new Runner('telegram', options.intervalMs, () => this.notifier.sync(), log, this.clock);
    this.bot.use(this.guard());
    this.bot.use(this.callbacks());
    this.bot.use(this.commands());
    this.bot.catch((err) => {
      // A press answered after Telegram's deadline (about 15 s, e.g. after a slow engine call) is
      // not a failure of the handler: the change it asked for was made and its message shows it.
      if (err.error instanceof GrammyError && /query is too old|query ID is invalid/i.test(err.error.description)) {
        log.debug({ update: err.ctx.update.update_id }, 'a button press was answered after Telegram stopped waiting');
        return;
      }
      log.error({ err: err.error instanceof Error ? err.error : new Error(String(err.error)), update: err.ctx.update.update_id }, 'bot handler failed');
    });
  }

  async start(): Promise<void> {
    await this.checkToken();
    await this.outbox.load();
    this.outbox.start();
    this.loop.start();
    this.cronTask = cron.schedule(
      this.deps.options.digestCron,
      () => {
        void this.sendDigest().catch((err) => this.deps.log.error({ err }, 'digest failed'));
      },
      { timezone: this.deps.options.tz, noOverlap: true },
    );
    this.polling = this.poll();
    void this.registerCommands();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.cancelLater?.();
    await this.cronTask?.stop();
    // grammY's stop() asks Telegram once more (to save the offset): it may hang when Telegram is
    // unreachable, so it gets a moment and no more.
    if (this.bot.isRunning()) await Promise.race([this.bot.stop().catch(() => {}), this.clock.sleep(1000)]);
    await Promise.race([this.polling, this.clock.sleep(1000)]);
    await this.loop.stop();
    await this.outbox.stop();
  }

  /**
   * A token Telegram refuses (401) is a configuration error: the start fails naming it. Telegram
   * unreachable is not: after a few seconds the start goes on and the bot keeps trying.
   */
  private async checkToken(): Promise<void> {
    const giveUp = new AbortController();
    const cancel = this.clock.timer(5000, () => giveUp.abort());
    try {
      await this.bot.init(giveUp.signal as Parameters<Bot['init']>[0]);
    } catch (err) {
      if (err instanceof GrammyError && err.error_code === 401) {
        throw new ConfigError('TELEGRAM_BOT_TOKEN', 'Telegram rejected the token (401 Unauthorized): get a new one from @BotFather');
      }
      this.deps.log.warn({ err: err instanceof Error ? err : new Error(String(err)) }, 'Telegram does not answer yet; starting anyway, the bot keeps trying');
    } finally {
      cancel();
    }
  }

  private async registerCommands(): Promise<void> {
    const commands = [
      { command: 'status', description: 'Nodes, unhealthy services, actions' },
      { command: 'pending', description: 'Actions waiting for a decision' },
      { command: 'history', description: 'The last finished actions' },
      { command: 'silence', description: 'Silence a node or service for a while' },
      { command: 'recover', description: 'Replay world, diagnose a flood, cancel all pending' },
      { command: 'help', description: 'What this bot does' },
    ];
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        // Scoped to our chat: the menu shows these commands there, and nowhere else.
        const chatId = this.deps.options.chatId;
        await this.bot.api.setMyCommands(commands, { scope: { type: 'chat', chat_id: /^-?\d+$/.test(chatId) ? Number(chatId) : chatId } });
        return;
      } catch (err) {
        if (err instanceof GrammyError && err.error_code !== 429 && err.error_code < 500) return;
        await this.clock.sleep(backoffDelay(attempt + 1, DEFAULT_BACKOFF), this.abort.signal);
      }
    }
  }

  /** Long polling that survives Telegram being unreachable; a bad token is said once, clearly. */
  private async poll(): Promise<void> {
    const { log, options } = this.deps;
    let conflicts = 0;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        // getMe with our signal: grammY's own start() retries it for ever without one.
        await this.bot.init(this.abort.signal as Parameters<Bot["init"]>[0]);
        if (this.stopped) return;
        await this.bot.start({
          allowed_updates: ['message', 'callback_query'],
          timeout: options.pollTimeoutS ?? 30,
          onStart: (me) => log.info({ bot: me.username }, `Telegram bot @${me.username} is polling for updates`),
        });
        return;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof GrammyError && err.error_code === 401) {
          log.error('Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized): get a new token from @BotFather; messages stay queued');
          return;
        }
        if (err instanceof GrammyError && err.error_code === 409) {
          // During a rolling restart the old process polls for a moment more: only a conflict
          // that lasts is worth an error line, once.
          conflicts++;
          if (conflicts === 3) log.error('another process is polling with this bot token (409 Conflict, 3 times in a row): run one control plane per bot, and no webhook (deleteWebhook)');
          else log.debug('409 Conflict from getUpdates; retrying');
        } else {
          conflicts = 0;
          log.warn({ err: err instanceof Error ? err : new Error(String(err)) }, 'Telegram polling failed; retrying');
        }
        await this.clock.sleep(backoffDelay(attempt + 1, DEFAULT_BACKOFF), this.abort.signal);
      }
    }
  }

  private isAdmin(ctx: Context): boolean {
    return ctx.from !== undefined && this.deps.options.adminIds.includes(ctx.from.id);
  }

  private inOurChat(chat: { id: number; username?: string } | undefined): boolean {
    if (!chat) return false;
    const want = this.deps.options.chatId;
    return want.startsWith('@') ? `@${chat.username ?? ''}` === want : String(chat.id) === want;
  }

  /** Updates from other chats are ignored; callbacks from elsewhere are answered and ignored. */
  private guard(): Composer<Context> {
    const c = new Composer<Context>();
    c.use(async (ctx, next) => {
      this.stats.updates++;
      const chat = ctx.callbackQuery?.message?.chat ?? ctx.chat;
      if (!this.inOurChat(chat)) {
        if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: 'This bot only works in its own chat.' }).catch(() => {});
        this.deps.log.warn({ chat: chat?.id, user: ctx.from?.id }, 'ignored an update from another chat');
        return;
      }
      await next();
    });
    return c;
  }

  private async unauthorized(ctx: Context, what: string): Promise<void> {
    this.stats.unauthorized++;
    this.deps.log.warn({ user: ctx.from?.id, username: ctx.from?.username, what }, 'a user who is not in TELEGRAM_ADMIN_IDS tried to change something');
    if (ctx.callbackQuery) {
      await ctx.answerCallbackQuery({ text: '⛔ Not authorized: only the admins in TELEGRAM_ADMIN_IDS can do this.', show_alert: true });
    } else {
      await this.reply(ctx, '⛔ Not authorized: only the admins in TELEGRAM_ADMIN_IDS can do this.');
    }
  }

  /** Sends a reply through the outbox, split into parts when long. */
  async reply(ctx: Context, text: string, buttons: Buttons = [], key?: string): Promise<string> {
    const base = key ?? `reply:${ctx.update.update_id}`;
    const parts = splitText(text);
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      await this.outbox.upsert(parts.length === 1 ? base : `${base}:${i + 1}`, {
        chatId: this.deps.options.chatId,
        ...threadOf(ctx),
        text: parts[i]!,
        buttons: last ? buttons : [],
        meta: { kind: 'reply', final: true },
      });
    }
    return base;
  }

  private async transition(a: Action, to: 'approved' | 'rejected' | 'cancelled', ctx: Context, extra: Record<string, unknown> = {}): Promise<Action> {
    const actor = { id: ctx.from!.id, name: ctx.from!.username ? `@${ctx.from!.username}` : ctx.from!.first_name, via: 'telegram' as const };
    const patch = to === 'approved' ? { approved_by: actor } : to === 'rejected' ? { rejected_by: actor } : { ...extra };
    const done = await this.deps.actions.transition({ id: a.id, from: 'pending', to, instance: a.instance, by: `telegram:${actor.id}`, patch });
    this.deps.log.info({ id: a.id, instance: a.instance, to, user: actor.id }, `${a.id} ${to} from Telegram`);
    return done;
  }

  private callbacks(): Composer<Context> {
    const c = new Composer<Context>();
    c.on('callback_query:data', async (ctx) => {
      this.stats.callbacks++;
      const m = DATA_RE.exec(ctx.callbackQuery.data);
      const answer = (text: string, alert = false) => ctx.answerCallbackQuery({ text, show_alert: alert });
      if (!m) return answer('This button is not valid.');
      const [, op, ref] = m as unknown as [string, string, string];
      if (!this.isAdmin(ctx)) return this.unauthorized(ctx, `button ${op}`);
      if (op === 'sr') {
        const n = await this.deps.supervisorState.removeSilence(ref);
        this.deps.kickSupervisor();
        return answer(n ? 'Silence removed.' : 'That silence is gone already.');
      }
      const rec = this.outbox.byRef(ref);
      if (!rec) return answer('This button is not valid any more.');
      const kind = rec.meta.kind;
      // A button on an older copy of an action's message (sent again after a restart): the
      // buttons live only on the newest one, so this one loses its keyboard.
      const pressedOn = ctx.callbackQuery.message?.message_id;
      if (kind === 'action' && rec.message_id !== null && pressedOn !== undefined && pressedOn !== rec.message_id) {
        await ctx.editMessageReplyMarkup().catch(() => {});
        return answer('This message was replaced by a newer one: use the buttons there.');
      }
      try {
        if (kind === 'action') return await this.onActionButton(ctx, op, rec.key, String(rec.meta.id), String(rec.meta.instance));
        if (kind === 'group') return await this.onGroupButton(ctx, op, rec.key);
        if (kind === 'notice') return await this.onNoticeButton(ctx, op, String(rec.meta.node));
        if (kind === 'recover') return await this.onRecoverButton(ctx, op, rec.key);
      } finally {
        this.loop.kick();
      }
      return answer('This button is not valid any more.');
    });
    return c;
  }

  private async onActionButton(ctx: Context, op: string, key: string, id: string, instance: string): Promise<void> {
    const answer = (text: string) => ctx.answerCallbackQuery({ text });
    const a = await this.deps.actions.find(id, instance);
    if (!a) return void (await answer('This action no longer exists.'));
    if (a.state !== 'pending') return void (await answer(`Nothing changed: this action is ${a.state} now.`));
    try {
      if (op === 'ap' && a.risk === 'guarded') {
        await this.outbox.setMeta(key, { confirming: true });
        await this.notifier.renderActionMessage(a);
        return void (await answer('Guarded action: press Confirm to approve it.'));
      }
      if (op === 'bk') {
        await this.outbox.setMeta(key, { confirming: false });
        await this.notifier.renderActionMessage(a);
        return void (await answer('Not approved.'));
      }
      if (op === 'ap' || op === 'cf') {
        if (op === 'cf' && this.outbox.get(key)?.meta.confirming !== true) return void (await answer('Press Approve first.'));
        const done = await this.transition(a, 'approved', ctx);
        await this.notifier.renderActionMessage(done);
        return void (await answer('✅ Approved: the executor takes it from here.'));
      }
      if (op === 'rj') {
        const done = await this.transition(a, 'rejected', ctx);
        await this.notifier.renderActionMessage(done);
        return void (await answer('Rejected.'));
      }
    } catch (err) {
      if (err instanceof TransitionError) {
        return void (await answer(`Nothing changed: this action is ${err.current?.state ?? 'gone'} now.`));
      }
      throw err;
    }
    await answer('This button is not valid.');
  }

  private async onGroupButton(ctx: Context, op: string, key: string): Promise<void> {
    const rec = this.outbox.get(key)!;
    const members: Action[] = [];
    for (const m of (rec.meta.members as string[]) ?? []) {
      const [id, instance] = m.slice('action:'.length).split('@') as [string, string];
      const a = await this.deps.actions.find(id, instance);
      if (a) members.push(a);
    }
    if (op === 'gs') {
      await this.outbox.setMeta(key, { expanded: true });
      return void (await ctx.answerCallbackQuery({ text: 'Sending each action as its own message.' }));
    }
    const targets = members.filter((a) => a.state === 'pending' && (op === 'gr' || a.risk === 'low'));
    if (op !== 'ga' && op !== 'gr') return void (await ctx.answerCallbackQuery({ text: 'This button is not valid.' }));
    let n = 0;
    for (const a of targets) {
      try {
        await this.transition(a, op === 'ga' ? 'approved' : 'rejected', ctx);
        n++;
      } catch (err) {
        if (!(err instanceof TransitionError)) throw err;
      }
    }
    await ctx.answerCallbackQuery({ text: n === 0 ? 'Nothing changed: none of them is pending.' : `${op === 'ga' ? 'Approved' : 'Rejected'} ${n} action(s).` });
  }

  private async onNoticeButton(ctx: Context, op: string, node: string): Promise<void> {
    if (op !== 'nr') return void (await ctx.answerCallbackQuery({ text: 'This button is not valid.' }));
    const by = ctx.from!.username ? `@${ctx.from!.username}` : String(ctx.from!.id);
    await this.deps.supervisorState.confirmRemoval(node, `telegram:${by}`, this.deps.now());
    this.deps.kickSupervisor();
    await ctx.answerCallbackQuery({ text: `Removal on ${node} confirmed.` });
  }

  private async onRecoverButton(ctx: Context, op: string, key: string): Promise<void> {
    const data = this.notifier.data(key);
    const menu = (text: string, buttons: Buttons) => this.outbox.upsert(key, { chatId: this.deps.options.chatId, ...threadOf(ctx), text, buttons, meta: { kind: 'recover', final: false } });
    const answer = (text: string) => ctx.answerCallbackQuery({ text });
    switch (op) {
      case 'rr':
        await menu('🔁 <b>Replay world state from all events?</b>\nThe observer forgets its checkpoint and reads every event again. Actions are not touched.', [
          [{ text: '⚠️ Yes, replay', data: data('rR') }, { text: '↩️ Back', data: data('rx') }],
        ]);
        return void (await answer('Confirm to replay.'));
      case 'rR': {
        await answer('Replaying…');
        const r = await this.deps.replay();
        await menu(`🔁 World replayed: ${r.applied} events applied, ${r.malformed} malformed lines skipped.`, []);
        return;
      }
      case 'rd':
        await menu(this.diagnose(), []);
        return void (await answer('Diagnosis below.'));
      case 'rc': {
        const n = (await this.deps.actions.list('pending')).length;
        await menu(`🗑 <b>Cancel all ${n} pending actions?</b>\nThey move to cancelled/ with reason cancelled_by_operator, which holds like a rejection: none of them is proposed again for 10 min (doubling on each repeat, up to 6 h), unless it is still needed after that.`, [
          [{ text: `⚠️ Yes, cancel ${n}`, data: data('rC') }, { text: '↩️ Back', data: data('rx') }],
        ]);
        return void (await answer('Confirm to cancel.'));
      }
      case 'rC': {
        let n = 0;
        for (const a of await this.deps.actions.list('pending')) {
          try {
            await this.transition(a, 'cancelled', ctx, { cancel_reason: 'cancelled_by_operator' });
            n++;
          } catch (err) {
            if (!(err instanceof TransitionError)) throw err;
          }
        }
        await menu(`🗑 Cancelled ${n} pending action(s).`, []);
        return void (await answer(`Cancelled ${n}.`));
      }
      case 'rx':
        await menu(...this.recoverMenu(key));
        return void (await answer('OK'));
    }
    await answer('This button is not valid.');
  }

  private recoverMenu(key: string): [string, Buttons] {
    const data = this.notifier.data(key);
    return [
      '🛠 <b>Recover</b>: what do you want to do?',
      [
        [{ text: '🔁 Replay world from events', data: data('rr') }],
        [{ text: '🩺 Diagnose a flood of pending actions', data: data('rd') }],
        [{ text: '🗑 Cancel all pending', data: data('rc') }],
      ],
    ];
  }

  /** Which nodes sent no service_healthy recently, and what to check. */
  diagnose(): string {
    const world = this.deps.world();
    const now = this.deps.now();
    const lines = ['🩺 <b>Pending-flood diagnosis</b>', ''];
    let suspects = 0;
    for (const dn of Object.values(this.deps.desired())) {
      const monitored = Object.values(dn.services).filter((s) => s.monitor);
      if (monitored.length === 0) continue;
      const entries = monitored.map((s) => world.services[`${dn.node}/${s.service}`]);
      const reported = entries.filter(Boolean).length;
      const lastHealthy = entries.map((e) => e?.last_healthy_at ?? null).filter((x): x is string => x !== null).sort().at(-1) ?? null;
      const agent = world.nodes[dn.node]?.agent ?? 'silent';
      const stale = !lastHealthy || now - Date.parse(lastHealthy) > 15 * 60_000;
      if (stale || reported < monitored.length) suspects++;
      lines.push(
        `${stale ? '⚠️' : '✅'} <b>${esc(dn.node)}</b>: agent ${agent}; ${reported}/${monitored.length} services reported; last service_healthy ${ago(lastHealthy, now)}`,
      );
    }
    lines.push('');
    lines.push(
      suspects
        ? 'Without service_healthy events the supervisor sees services as missing and proposes redeploys. On each ⚠️ node check the node agent: <code>docker ps --filter name=node-agent</code> and <code>docker logs node-agent --tail 20</code>; then cancel the flood from this menu.'
        : 'Every node reports service_healthy: the pending actions reflect real drift.',
    );
    return lines.join('\n');
  }

  private commands(): Composer<Context> {
    const c = new Composer<Context>();
    c.command(['help', 'start'], (ctx) => this.reply(ctx, HELP_TEXT).then(() => undefined));
    c.command('status', async (ctx) => {
      await this.reply(ctx, renderStatus(await this.deps.summary(), this.deps.now()));
    });
    c.command('pending', async (ctx) => {
      // The same order as every action list (newest first; docs/operator/cli.md).
      const { actions: pending } = await this.deps.actions.query({ states: ['pending'] });
      if (pending.length === 0) return void (await this.reply(ctx, '✅ Nothing is waiting for a decision.'));
      const lines = [`⏳ <b>${pending.length} pending</b>`, ''];
      const buttons: Buttons = [];
      for (const a of pending) {
        lines.push(`• ${renderBrief(a)}`);
        const data = this.notifier.data(actionKey(a));
        // The buttons act on the action's own message state (Confirm for guarded ones).
        if (!this.outbox.get(actionKey(a))) await this.notifier.renderActionMessage(a);
        buttons.push([
          { text: `✅ ${a.service ?? a.node}`.slice(0, 40), data: data('ap') },
          { text: '✖️ Reject', data: data('rj') },
        ]);
      }
      await this.reply(ctx, lines.join('\n'), buttons.slice(0, 50));
    });
    c.command('history', async (ctx) => {
      const n = Math.min(50, Math.max(1, Number.parseInt(String(ctx.match ?? '').trim() || '10', 10) || 10));
      const { actions: list } = await this.deps.actions.query({ states: TERMINAL_STATES, limit: n });
      await this.reply(ctx, renderHistory(list, this.deps.now()));
    });
    c.command('silence', async (ctx) => {
      const args = String(ctx.match ?? '').trim().split(/\s+/).filter(Boolean);
      if (args.length === 0) {
        const r = renderSilences(await this.deps.supervisorState.activeSilences(this.deps.now()), this.deps.now());
        return void (await this.reply(ctx, r.text, r.buttons));
      }
      if (!this.isAdmin(ctx)) return this.unauthorized(ctx, '/silence');
      const [target, duration, ...reason] = args;
      let ms: number;
      try {
        if (!duration) throw new Error('missing duration');
        ms = parseDuration(duration);
      } catch {
        return void (await this.reply(ctx, 'Usage: /silence &lt;node&gt;[/&lt;service&gt;] &lt;duration&gt; [reason], e.g. /silence piha/webui 2h router swap'));
      }
      const unknown = unknownTarget(this.deps.desired(), target!);
      if (unknown) return void (await this.reply(ctx, `Not silenced: ${esc(unknown)}.`));
      try {
        const by = ctx.from?.username ? `@${ctx.from.username}` : String(ctx.from?.id);
        const s = await this.deps.supervisorState.addSilence(target!, ms, this.deps.now(), { reason: reason.join(' ') || undefined, by: `telegram:${by}` });
        this.deps.kickSupervisor();
        await this.reply(ctx, `🔕 ${s.merged ? 'Silence extended for' : 'Silenced'} <b>${esc(s.target)}</b> until ${s.until.slice(0, 16).replace('T', ' ')} UTC${s.reason ? `: ${esc(s.reason)}` : ''}.`);
      } catch (err) {
        await this.reply(ctx, esc((err as Error).message));
      }
    });
    c.command('recover', async (ctx) => {
      if (!this.isAdmin(ctx)) return this.unauthorized(ctx, '/recover');
      const key = `recover:${ctx.update.update_id}`;
      const [text, buttons] = this.recoverMenu(key);
      await this.outbox.upsert(key, { chatId: this.deps.options.chatId, ...threadOf(ctx), text, buttons, meta: { kind: 'recover', final: false } });
    });
    return c;
  }

  /** What happened since the last digest, and what still needs a decision. */
  async sendDigest(): Promise<string> {
    const { stateDir, now: clock } = this.deps;
    const file = path.join(stateDir, 'telegram', 'digest.json');
    const prev = (await readJsonFile(file).catch(() => undefined)) as { last_at?: string } | undefined;
    const now = clock();
    const since = prev?.last_at ?? new Date(now - 86_400_000).toISOString();
    const world = this.deps.world();
    const finished = await this.deps.actions.finishedSince(since);
    const count = (s: string) => finished.filter((a) => a.state === s).length;
    const opened = Object.values(world.services).filter((s) => s.status === 'unhealthy' && s.since > since);
    const resolved = Object.values(world.services).filter((s) => s.last_incident && s.last_incident.resolved_at > since);
    const stillUnhealthy = Object.values(world.services).filter((s) => s.status === 'unhealthy');
    const pending = await this.deps.actions.list('pending');
    const silent = Object.values(world.nodes).filter((n) => n.agent === 'silent' && this.deps.desired()[n.node]);
    const lines = [`📰 <b>Digest</b> since ${since.slice(0, 16).replace('T', ' ')} UTC`, ''];
    lines.push(`Incidents: ${opened.length} opened, ${resolved.length} resolved`);
    for (const s of resolved.slice(0, 10)) lines.push(`  ✅ ${esc(`${s.node}/${s.service}`)}: ${esc(s.last_incident?.reason ?? 'incident')} resolved ${ago(s.last_incident!.resolved_at, now)}`);
    lines.push(`Actions: ${count('completed')} completed, ${count('failed')} failed, ${count('rejected')} rejected, ${count('cancelled')} cancelled`);
    for (const a of finished.filter((x) => x.state === 'failed').slice(0, 10)) lines.push(`  ❌ <code>${esc(a.id)}</code>: ${esc(a.error ?? '')}`);
    lines.push('');
    if (stillUnhealthy.length === 0) lines.push('✅ Everything is healthy now.');
    else {
      lines.push(`🔴 Still unhealthy (${stillUnhealthy.length}):`);
      for (const s of stillUnhealthy.slice(0, 20)) lines.push(`  ${esc(`${s.node}/${s.service}`)}: ${esc(s.reason ?? '')} since ${ago(s.since, now)}`);
    }
    if (silent.length) lines.push(`📵 Silent agents: ${silent.map((n) => esc(n.node)).join(', ')}`);
    const buttons: Buttons = [];
    if (pending.length) {
      lines.push('', `⏳ Waiting for a decision (${pending.length}):`);
      for (const a of pending.slice(0, 20)) {
        lines.push(`  • ${renderBrief(a)}`);
        if (!this.outbox.get(actionKey(a))) await this.notifier.renderActionMessage(a);
        const data = this.notifier.data(actionKey(a));
        buttons.push([
          { text: `✅ ${a.service ?? a.node}`.slice(0, 40), data: data('ap') },
          { text: '✖️ Reject', data: data('rj') },
        ]);
      }
    }
    const key = `digest:${new Date(now).toISOString()}`;
    const parts = splitText(lines.join('\n'));
    for (let i = 0; i < parts.length; i++) {
      await this.outbox.upsert(parts.length === 1 ? key : `${key}:${i + 1}`, {
        chatId: this.deps.options.chatId,
        text: parts[i]!,
        buttons: i === parts.length - 1 ? buttons : [],
        meta: { kind: 'reply', final: true },
      });
    }
    await writeJsonAtomic(file, { version: 1, last_at: new Date(now).toISOString() });
    return lines.join('\n');
  }
}

/** A command sent in a forum topic is answered in that topic. */
function threadOf(ctx: Context): { threadId?: number } {
  const m = ctx.msg;
  const thread = m && 'message_thread_id' in m && m.is_topic_message ? m.message_thread_id : undefined;
  return thread !== undefined ? { threadId: thread } : {};
}
