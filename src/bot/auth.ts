// Who may do what, one function per rule (docs/operator/telegram.md): the bot lives in one chat;
// anyone in it may look (status, lists, pages); only TELEGRAM_ADMIN_IDS may change something.
import { Composer } from 'grammy';
import type { BotContext, BotKit } from './context.js';

/** Rule 1: only the chat TELEGRAM_CHAT_ID names (a numeric id or an @username). */
export function inOurChat(chatId: string, chat: { id: number; username?: string } | undefined): boolean {
  if (!chat) return false;
  return chatId.startsWith('@') ? `@${chat.username ?? ''}` === chatId : String(chat.id) === chatId;
}

/** Rule 2: a change (a button that moves an action, /silence with arguments, /recover) needs an admin. */
export function isAdmin(adminIds: readonly number[], from: { id: number } | undefined): boolean {
  return from !== undefined && adminIds.includes(from.id);
}

/** Drops updates from other chats (a press there is answered, so its spinner stops). */
export function guard(kit: BotKit): Composer<BotContext> {
  const c = new Composer<BotContext>();
  c.use(async (ctx, next) => {
    kit.stats.updates++;
    const chat = ctx.callbackQuery?.message?.chat ?? ctx.chat;
    if (!inOurChat(kit.deps.options.chatId, chat)) {
      if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: 'This bot only works in its own chat.' }).catch(() => {});
      kit.deps.log.warn({ chat: chat?.id, user: ctx.from?.id }, 'ignored an update from another chat');
      return;
    }
    await next();
  });
  return c;
}

/**
 * True when the sender is an admin; otherwise says no (an alert on a press, a reply to a command),
 * logs who tried, and returns false.
 */
export async function requireAdmin(kit: BotKit, ctx: BotContext, what: string, kind: 'change something' | 'read logs' = 'change something'): Promise<boolean> {
  if (isAdmin(kit.deps.options.adminIds, ctx.from)) return true;
  kit.stats.unauthorized++;
  kit.deps.log.warn({ user: ctx.from?.id, username: ctx.from?.username, what }, `a user who is not in TELEGRAM_ADMIN_IDS tried to ${kind}`);
  const text = '⛔ Not authorized: only the admins in TELEGRAM_ADMIN_IDS can do this.';
  if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text, show_alert: true });
  else await kit.reply(ctx, text);
  return false;
}
