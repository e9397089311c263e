// The Telegram bot (grammY, long polling): creates the Bot and its parts, supervises polling, and
// is the error boundary. What it does lives in one Composer per feature (docs/design/telegram.md).
import { Bot, GrammyError } from 'grammy';
import cron from 'node-cron';
import { ConfigError } from '../errors.js';
import { Runner } from '../loops/runner.js';
import { telegramFiles } from '../store/paths.js';
import { RETRY_POLICIES, withRetries, type RetryVerdict } from '../time/backoff.js';
import { realClock, type Clock } from '../time/clock.js';
import { actionComposer } from './actions.js';
import { guard } from './auth.js';
import { decode } from './callback-data.js';
import { COMMAND_MENU, commandComposer } from './commands.js';
import { answer, threadOf, type BotContext, type BotKit, type TelegramDeps } from './context.js';
import { sendDigest } from './digest.js';
import { noticeComposer } from './notices.js';
import { snoozeComposer } from './snooze.js';
import { Notifier } from './notifier.js';
import { Outbox } from './outbox.js';
import { logsComposer } from './logs.js';
import { pendingComposer } from './pending.js';
import { recoverComposer } from './recover.js';
import { RefTable } from './refs.js';
import { splitText } from './render.js';
import { grammyTransport } from './transport.js';

export type { TelegramDeps } from './context.js';

export class TelegramBot {
  readonly bot: Bot<BotContext>;
  readonly outbox: Outbox;
  readonly refs: RefTable;
  readonly notifier: Notifier;
  readonly loop: Runner;
  readonly stats = { updates: 0, callbacks: 0, unauthorized: 0 };
  private readonly kit: BotKit;
  private cronTask: ReturnType<typeof cron.schedule> | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  /** Aborts getMe, the retry sleeps and the polling setup when the bot stops. */
  private readonly abort = new AbortController();
  private readonly clock: Clock;

  constructor(private readonly deps: TelegramDeps) {
    const { options, log } = deps;
    this.clock = deps.clock ?? realClock;
    this.bot = new Bot<BotContext>(options.token, { client: { apiRoot: options.apiRoot } });
    const files = telegramFiles(deps.stateDir);
    this.refs = new RefTable(files.refs, deps.now, log, deps.stateDocs);
    this.outbox = new Outbox({ dir: files.outbox, transport: grammyTransport(this.bot.api, log), log: log.child({ part: 'outbox' }), clock: this.clock, pageUrl: options.pageUrl, beforeSend: () => this.refs.flushed(), ...(options.threadId !== undefined ? { threadId: options.threadId } : {}), ...(deps.outboxRecords ? { records: deps.outboxRecords } : {}) });
    this.notifier = new Notifier({ actions: deps.actions, supervisorState: deps.supervisorState, outbox: this.outbox, refs: this.refs, chatId: options.chatId, log, now: deps.now, clock: this.clock, wake: () => this.loop.kick(), ...(deps.evidence ? { evidence: deps.evidence.get } : {}), ...(deps.stopping ? { stopping: deps.stopping } : {}) });
    this.loop = new Runner('telegram', options.intervalMs, () => this.notifier.sync(), log, this.clock);
    this.kit = { deps, outbox: this.outbox, refs: this.refs, notifier: this.notifier, stats: this.stats, reply: (ctx, text, o) => this.reply(ctx, text, o), kick: () => this.loop.kick() };
    // Every long poll that returns (or fails) is a sign the connection lives (the polling watchdog).
    this.bot.api.config.use(async (prev, method, payload, signal) => {
      try {
        return await prev(method, payload, signal);
      } finally {
        if (method === 'getUpdates') this.lastPollAt = this.clock.now();
      }
    });
    this.bot.use(guard(this.kit));
    // An update is handled between two notifier passes, never during one.
    this.bot.use((ctx, next) => this.notifier.exclusive(next));
    this.bot.on('callback_query:data', async (ctx, next) => {
      this.stats.callbacks++;
      const b = decode(ctx.callbackQuery.data);
      if (b.op === 'invalid') return answer(ctx, 'This button is not valid.');
      ctx.button = b;
      await next();
    });
    for (const feature of [actionComposer, snoozeComposer, pendingComposer, logsComposer, noticeComposer, recoverComposer, commandComposer]) this.bot.use(feature(this.kit));
    this.bot.on('callback_query:data', (ctx) => answer(ctx, 'This button is not valid.'));
    this.bot.catch((err) => {
      // A press answered after Telegram's deadline (about 15 s, e.g. after a slow replay) is not
      // a failure of the handler: the change it asked for was made and its message shows it.
      if (err.error instanceof GrammyError && /query is too old|query ID is invalid/i.test(err.error.description)) {
        return void log.debug({ update: err.ctx.update.update_id }, 'a button press was answered after Telegram stopped waiting');
      }
      log.error({ err: err.error instanceof Error ? err.error : new Error(String(err.error)), update: err.ctx.update.update_id }, 'bot handler failed');
    });
  }

  async start(): Promise<void> {
    await this.checkTelegram();
    await this.outbox.load();
    await this.refs.load();
    // Buttons of messages sent before the table existed keep working.
    this.refs.ensure(this.outbox.all().map((r) => r.key));
    this.outbox.start();
    this.loop.start();
    const { digestCron, tz } = this.deps.options;
    this.cronTask = cron.schedule(digestCron, () => void this.sendDigest().catch((err) => this.deps.log.error({ err }, 'digest failed')), { timezone: tz, noOverlap: true });
    this.polling = this.poll();
    this.watchPolling();
    void this.retry('setMyCommands (the command menu)', () => this.registerCommands());
  }

  /** The last getUpdates that returned (or failed): a long poll that never returns is a dead connection. */
  private lastPollAt: number | undefined;
  private cancelPollWatch: (() => void) | undefined;
  readonly pollStats = { restarts: 0 };

  /** Polling as /healthz and /metrics show it. */
  get pollingHealth(): { last_poll_at: string | null; restarts: number } {
    return { last_poll_at: this.lastPollAt === undefined ? null : new Date(this.lastPollAt).toISOString(), restarts: this.pollStats.restarts };
  }

  /**
   * The polling watchdog: no getUpdates has returned within 3× its timeout → the connection is
   * dead (grammY would wait minutes for it): polling is stopped and started again, and said.
   */
  private watchPolling(): void {
    const timeoutMs = (this.deps.options.pollTimeoutS ?? 30) * 1000;
    const since = this.clock.now();
    const check = async () => {
      if (this.stopped) return;
      const last = this.lastPollAt ?? since;
      if (this.clock.now() - last > 3 * timeoutMs && this.bot.isRunning()) {
        this.pollStats.restarts++;
        this.deps.log.warn({ last_poll_at: this.pollingHealth.last_poll_at, restarts: this.pollStats.restarts }, `Telegram polling has not completed a getUpdates for ${Math.round((this.clock.now() - last) / 1000)} s: restarting it`);
        this.lastPollAt = this.clock.now();
        await Promise.race([this.bot.stop().catch(() => {}), this.clock.sleep(1000)]);
        await Promise.race([this.polling, this.clock.sleep(1000)]);
        if (!this.stopped) this.polling = this.poll();
      }
      if (!this.stopped) this.cancelPollWatch = this.clock.timer(timeoutMs, () => void check());
    };
    this.cancelPollWatch = this.clock.timer(timeoutMs, () => void check());
  }

  /** `drain`: a stop waited for an action: its last messages get a moment to reach the chat. */
  async stop(drain = false): Promise<void> {
    this.stopped = true;
    this.cancelPollWatch?.();
    this.abort.abort();
    await this.cronTask?.stop();
    // grammY's stop() asks Telegram once more (to save the offset): it gets a moment and no more.
    if (this.bot.isRunning()) await Promise.race([this.bot.stop().catch(() => {}), this.clock.sleep(1000)]);
    await Promise.race([this.polling, this.clock.sleep(1000)]);
    // The bot stops after the executor: one last pass puts what the stop did (an action recorded
    // interrupted) into its message, and the outbox gets a moment to deliver it.
    await this.loop.stop();
    if (drain) {
      await Promise.race([this.notifier.sync().catch(() => {}), this.clock.sleep(1000)]);
      await Promise.race([this.outbox.whenIdle(), this.clock.sleep(1500)]);
    }
    await this.outbox.stop();
  }

  /** A message that only informs (start, stop): sent once, without a sound. */
  async announce(key: string, text: string): Promise<void> {
    await this.outbox.upsert(key, { chatId: this.deps.options.chatId, text, buttons: [], meta: { kind: 'reply', final: true }, quiet: true });
  }

  sendDigest(): Promise<string> {
    return sendDigest(this.kit);
  }

  /** Sends a reply (lane 1) through the outbox, split into parts when long. */
  async reply(ctx: BotContext, text: string, o: Parameters<BotKit['reply']>[2] = {}): Promise<string> {
    const base = o.key ?? `reply:${ctx.update.update_id}`;
    const parts = splitText(text);
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      await this.outbox.upsert(parts.length === 1 ? base : `${base}:${i + 1}`, { chatId: this.deps.options.chatId, ...threadOf(ctx), text: part, buttons: last ? (o.buttons ?? []) : [], meta: o.meta ?? { kind: 'reply', final: true }, urgent: true });
    }
    return base;
  }

  /**
   * A token Telegram refuses (401), a chat it does not know or lets us not write to, and a forum
   * topic that is not there are configuration errors (exit 2, naming the variable); Telegram
   * unreachable is not: the start goes on and the bot keeps trying.
   */
  private async checkTelegram(): Promise<void> {
    const giveUp = new AbortController();
    const cancel = this.clock.timer(5000, () => giveUp.abort());
    const signal = giveUp.signal as Parameters<Bot['init']>[0];
    const { chatId, threadId } = this.deps.options;
    const step = async (what: string, f: () => Promise<unknown>, refused: (err: GrammyError) => ConfigError | undefined): Promise<boolean> => {
      try {
        await f();
        return true;
      } catch (err) {
        const config = err instanceof GrammyError ? refused(err) : undefined;
        if (config) throw config;
        this.deps.log.warn({ err: err instanceof Error ? err : new Error(String(err)) }, `Telegram does not answer yet (${what}); starting anyway, the bot keeps trying`);
        return false;
      }
    };
    try {
      const up = await step('getMe', () => this.bot.init(signal), (e) =>
        e.error_code === 401 ? new ConfigError('TELEGRAM_BOT_TOKEN', 'Telegram rejected the token (401 Unauthorized): get a new one from @BotFather') : undefined,
      );
      if (!up) return;
      const chat = chatIdParam(chatId);
      const chatOk = await step('getChat', () => this.bot.api.getChat(chat, signal), (e) =>
        (e.error_code === 400 && /chat not found/i.test(e.description)) || e.error_code === 403
          ? new ConfigError('TELEGRAM_CHAT_ID', `Telegram says "${e.description}" for chat ${chatId}: add the bot to that chat (or send it a message first), and use the chat's id (a group's starts with -100; @userinfobot or getUpdates shows it)`)
          : undefined,
      );
      if (!chatOk || threadId === undefined) return;
      await step('sendChatAction', () => this.bot.api.sendChatAction(chat, 'typing', { message_thread_id: threadId }, signal), (e) =>
        e.error_code === 400 && /thread|topic/i.test(e.description)
          ? new ConfigError('TELEGRAM_THREAD_ID', `Telegram says "${e.description}" for topic ${threadId} of chat ${chatId}: use the id of an open topic of that forum group (the number after the last / of a message link in it)`)
          : undefined,
      );
    } finally {
      cancel();
    }
  }

  /** The menu for our chat only (scope `chat`). */
  private async registerCommands(): Promise<void> {
    const chatId = this.deps.options.chatId;
    await this.bot.api.setMyCommands(COMMAND_MENU, { scope: { type: 'chat', chat_id: chatIdParam(chatId) } });
  }

  /** Runs `f` until it works (RETRY_POLICIES.telegram); a refusal other than 429 is given up, and said. */
  private async retry(what: string, f: () => Promise<void>): Promise<void> {
    await withRetries(f, {
      isRetryable: (err) => !this.stopped && telegramRetryable(err),
      clock: this.clock,
      signal: this.abort.signal,
      policy: RETRY_POLICIES.telegram,
    }).catch((err: unknown) => {
      if (!this.stopped) this.deps.log.warn({ err }, `${what} was refused; not tried again until the next start`);
    });
  }

  /** Long polling that survives Telegram being unreachable; a bad token is said once, clearly. */
  private async poll(): Promise<void> {
    const { log, options } = this.deps;
    let conflicts = 0;
    const once = async () => {
      // getMe with our signal: grammY's own start() retries it for ever without one.
      await this.bot.init(this.abort.signal as Parameters<Bot['init']>[0]);
      if (this.stopped) return;
      await this.bot.start({ allowed_updates: ['message', 'callback_query'], timeout: options.pollTimeoutS ?? 30, onStart: (me) => log.info({ bot: me.username }, `Telegram bot @${me.username} is polling for updates`) });
    };
    await withRetries(once, {
      isRetryable: (err) => !this.stopped && !(err instanceof GrammyError && err.error_code === 401),
      clock: this.clock,
      signal: this.abort.signal,
      policy: RETRY_POLICIES.telegram,
      onRetry: (err) => {
        if (err instanceof GrammyError && err.error_code === 409) {
          // During a rolling restart the old process polls for a moment more: only a conflict
          // that lasts is worth an error line, once.
          if (++conflicts === 3) log.error('another process is polling with this bot token (409 Conflict, 3 times in a row): run one control plane per bot, and no webhook (deleteWebhook)');
          else log.debug('409 Conflict from getUpdates; retrying');
        } else {
          conflicts = 0;
          log.warn({ err: err instanceof Error ? err : new Error(String(err)) }, 'Telegram polling failed; retrying');
        }
      },
    }).catch((err: unknown) => {
      if (this.stopped) return;
      if (err instanceof GrammyError && err.error_code === 401) log.error('Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized): get a new token from @BotFather; messages stay queued');
    });
  }
}

/** Whether a Bot API call can work if tried again: 429, 5xx and network errors can; other refusals cannot. */
function telegramRetryable(err: unknown): RetryVerdict {
  if (!(err instanceof GrammyError)) return true;
  if (err.error_code === 429) return err.parameters.retry_after ? { afterMs: err.parameters.retry_after * 1000 } : true;
  return err.error_code >= 500;
}

/** A chat id as the Bot API takes it: a number, or an @username of a public chat. */
function chatIdParam(chatId: string): number | string {
  return /^-?\d+$/.test(chatId) ? Number(chatId) : chatId;
}
