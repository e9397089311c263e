// What every part of the bot shares: its settings and dependencies, the context type its
// handlers see (the decoded button, when a button was pressed), and small helpers on a context.
import type { Composer, Context } from 'grammy';
import type { Action } from '../domain/actions.js';
import type { DesiredState, World } from '../domain/schemas.js';
import type { Evidence } from '../store/evidence.js';
import type { Skips, Updates } from '../store/updates.js';
import type { Summary } from '../domain/summary.js';
import type { Logger } from '../log.js';
import type { ActionBackend } from '../store/action-backend.js';
import type { OutboxRecords } from '../store/outbox-files.js';
import type { SupervisorState } from '../store/supervisor-state.js';
import type { Clock } from '../time/clock.js';
import type { CallbackData, Op } from './callback-data.js';
import type { Notifier, Stopping } from './notifier.js';
import type { Outbox } from './outbox.js';
import type { Meta } from '../store/outbox-files.js';
import type { RefTable } from './refs.js';
import type { Buttons } from './render.js';
import type { DocStore } from '../store/doc-store.js';

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
  /** The outbox's records elsewhere than under stateDir (NATS KV, shared with a standby). */
  outboxRecords?: OutboxRecords;
  /** The state documents elsewhere than under stateDir (NATS KV): the last digest's mark. */
  stateDocs?: DocStore;
  actions: ActionBackend;
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
  /**
   * Evidence beside actions (read-only Docker reads happen in the layer that owns Docker access;
   * the bot only asks): the stored one, a fresh one (stored too), and a fresh log tail of a
   * service services.yaml names.
   */
  /** While a stop waits for an action under way: what it waits for (the message says so). */
  stopping?: (a: Action) => Stopping | undefined;
  evidence?: {
    get(id: string, instance: string): Promise<Evidence | undefined>;
    fresh(a: Action): Promise<Evidence>;
    tail(node: string, service: string, lines: number): Promise<Evidence>;
  };
  /** What the update checks found and the digests skipped (the digest lists updates waiting). */
  updates?: () => { updates: Updates; skips: Skips };
  /** Bytes per kind of data, as retention last measured them (the digest shows them). */
  data?: () => Readonly<Record<string, number>> | undefined;
  /** Remembers an image update's digests as skipped (Skip this version). */
  skipVersion?: (a: Action, by: string) => Promise<void>;
}

/** A grammY context with the button that was pressed, decoded once (bot.ts). */
export type BotContext = Context & { button?: CallbackData };

/** The parts each feature's Composer works with. */
export interface BotKit {
  deps: TelegramDeps;
  outbox: Outbox;
  refs: RefTable;
  notifier: Notifier;
  stats: { updates: number; callbacks: number; unauthorized: number };
  /** Sends (or, with `key`, sets) a reply in the chat, split into parts when long; lane 1. */
  reply(ctx: BotContext, text: string, opts?: { buttons?: Buttons; key?: string; meta?: Meta }): Promise<string>;
  /** Asks the notifier for a pass now (after a press changed something). */
  kick(): void;
}

/** A command sent in a forum topic is answered in that topic. */
export function threadOf(ctx: Context): { threadId?: number } {
  const m = ctx.msg;
  const thread = m && 'message_thread_id' in m && m.is_topic_message ? m.message_thread_id : undefined;
  return thread !== undefined ? { threadId: thread } : {};
}

/** Who did it, as action files record it. */
export function actorOf(ctx: Context): { id: number; name: string; via: 'telegram' } {
  const from = ctx.from!;
  return { id: from.id, name: from.username ? `@${from.username}` : from.first_name, via: 'telegram' };
}

/** The chat message a button was pressed on. */
export function pressedOn(ctx: Context): { chat: number; message: number } | undefined {
  const m = ctx.callbackQuery?.message;
  return m ? { chat: m.chat.id, message: m.message_id } : undefined;
}

/** Routes presses of the given operations to `handler` (the button was decoded in bot.ts). */
export function onButtons(c: Composer<BotContext>, ops: readonly Op[], handler: (ctx: BotContext, button: CallbackData) => Promise<unknown>): void {
  c.filter(
    (ctx) => ctx.button !== undefined && ops.includes(ctx.button.op),
    async (ctx) => void (await handler(ctx, ctx.button!)),
  );
}

/** Answers a press (the little note at the top of the chat). */
export async function answer(ctx: BotContext, text: string, alert = false): Promise<void> {
  await ctx.answerCallbackQuery({ text, ...(alert ? { show_alert: true } : {}) });
}
