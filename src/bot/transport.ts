// The outbox's two calls, made with grammY's API client: HTML (or plain text after a refusal),
// no link previews, and the keyboard only when there are buttons.
import { InlineKeyboard, type Api } from 'grammy';
import type { Logger } from '../log.js';
import type { TelegramTransport } from './outbox.js';
import type { Buttons } from './render.js';

/** Telegram refuses a keyboard with more than 100 buttons. */
export const MAX_BUTTONS = 100;

/** An inline keyboard of at most MAX_BUTTONS; undefined for none (never an empty row: Telegram refuses [[]]). */
export function keyboard(buttons: Buttons, log?: Logger): InlineKeyboard | undefined {
  const rows = buttons.filter((r) => r.length > 0);
  if (rows.length === 0) return undefined;
  const kb = new InlineKeyboard();
  let n = 0;
  for (const [i, row] of rows.entries()) {
    if (n + row.length > MAX_BUTTONS) {
      log?.error({ buttons: rows.flat().length }, `a keyboard had more than ${MAX_BUTTONS} buttons; the rest were left out`);
      break;
    }
    if (i > 0) kb.row();
    for (const b of row) {
      if ('copy' in b) kb.copyText(b.text, b.copy);
      else {
        kb.text(b.text, b.data);
        if (b.style) kb.style(b.style);
      }
    }
    n += row.length;
  }
  return kb;
}

export function grammyTransport(api: Api, log: Logger): TelegramTransport {
  const common = (buttons: Buttons, plain: boolean | undefined) => {
    const reply_markup = keyboard(buttons, log);
    return {
      ...(plain ? {} : { parse_mode: 'HTML' as const }),
      link_preview_options: { is_disabled: true },
      // No buttons: no reply_markup at all (an edit without one removes the keyboard).
      ...(reply_markup ? { reply_markup } : {}),
    };
  };
  return {
    async sendMessage(chatId, text, buttons, threadId, plain, quiet) {
      const m = await api.sendMessage(chatId, text, { ...(threadId !== undefined ? { message_thread_id: threadId } : {}), ...(quiet ? { disable_notification: true } : {}), ...common(buttons, plain) });
      return { message_id: m.message_id };
    },
    async editMessageText(chatId, messageId, text, buttons, plain) {
      await api.editMessageText(chatId, messageId, text, common(buttons, plain));
    },
  };
}
