// A small local server that speaks the Telegram Bot API well enough to run the real grammY bot
// end to end: long polling with offsets, messages that are really edited, callback answers,
// and 429/500 failures on demand. It records every call.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Call {
  method: string;
  params: Record<string, unknown>;
  at: number;
  /** What the server answered: ok, or the error code it was told to return. */
  status: 'ok' | number;
}

export interface StoredMessage {
  message_id: number;
  chat_id: number;
  text: string;
  reply_markup: { inline_keyboard: { text: string; callback_data?: string; url?: string; copy_text?: { text: string }; style?: string }[][] } | undefined;
  edits: number;
  /** The forum topic it was sent to. */
  message_thread_id?: number;
  /** Sent without a sound. */
  disable_notification?: boolean;
}

interface Failure {
  method: string | '*';
  code: number;
  retryAfter?: number;
  remaining: number;
  description?: string;
}

/** Tags Telegram's HTML parse mode knows. */
const TG_TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'span', 'tg-spoiler', 'a', 'code', 'pre', 'blockquote', 'tg-emoji']);

/**
 * What Telegram answers for a text it will not take, as strictly as the real service: invalid
 * UTF-8, unknown or unbalanced tags, a bare or cut entity, over 4096 characters after parsing.
 */
export function refuseText(text: string, html: boolean): string | undefined {
  if (!text.isWellFormed()) return 'Bad Request: strings must be encoded in UTF-8';
  let plain = text;
  if (html) {
    const stack: string[] = [];
    for (const m of text.matchAll(/<(\/?)([a-z-]+)(?:\s[^>]*)?>|<|&(#\d+;|#x[0-9a-f]+;|[a-z]+;)?/gi)) {
      if (m[0] === '<') return `Bad Request: can't parse entities: unexpected end tag or unsupported start tag at byte offset ${m.index}`;
      if (m[0].startsWith('&')) {
        if (!m[3] || (!/^#/.test(m[3]) && !['amp;', 'lt;', 'gt;', 'quot;'].includes(m[3].toLowerCase()))) return `Bad Request: can't parse entities: unsupported entity at byte offset ${m.index}`;
        continue;
      }
      const name = m[2]!.toLowerCase();
      if (!TG_TAGS.has(name)) return `Bad Request: can't parse entities: unsupported start tag "${name}" at byte offset ${m.index}`;
      if (!m[1]) stack.push(name);
      else if (stack.pop() !== name) return `Bad Request: can't parse entities: can't find end tag corresponding to start tag "${name}"`;
    }
    if (stack.length) return `Bad Request: can't parse entities: can't find end tag corresponding to start tag "${stack.at(-1)}"`;
    plain = text.replace(/<[^>]*>/g, '').replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, 'x');
  }
  if (plain.length > 4096) return 'Bad Request: message is too long';
  if (plain.trim() === '') return 'Bad Request: message text is empty';
  return undefined;
}

/**
 * The parameters of each method the bot uses, as the Bot API documentation lists them (required
 * and optional), with the stated allowed values. A parameter not in its method's list is refused:
 * Telegram would ignore it, and a typo of ours would silently do nothing.
 */
const METHODS: Record<string, { required: string[]; optional: string[] }> = {
  getMe: { required: [], optional: [] },
  getChat: { required: ['chat_id'], optional: [] },
  deleteWebhook: { required: [], optional: ['drop_pending_updates'] },
  setMyCommands: { required: ['commands'], optional: ['scope', 'language_code'] },
  getUpdates: { required: [], optional: ['offset', 'limit', 'timeout', 'allowed_updates'] },
  sendChatAction: { required: ['chat_id', 'action'], optional: ['business_connection_id', 'message_thread_id'] },
  sendMessage: {
    required: ['chat_id', 'text'],
    optional: ['business_connection_id', 'message_thread_id', 'direct_messages_topic_id', 'parse_mode', 'entities', 'link_preview_options', 'disable_notification', 'protect_content', 'allow_paid_broadcast', 'message_effect_id', 'suggested_post_parameters', 'reply_parameters', 'reply_markup'],
  },
  editMessageText: { required: ['text'], optional: ['business_connection_id', 'chat_id', 'message_id', 'inline_message_id', 'parse_mode', 'entities', 'link_preview_options', 'reply_markup'] },
  editMessageReplyMarkup: { required: [], optional: ['business_connection_id', 'chat_id', 'message_id', 'inline_message_id', 'reply_markup'] },
  answerCallbackQuery: { required: ['callback_query_id'], optional: ['text', 'show_alert', 'url', 'cache_time'] },
  deleteMessage: { required: ['chat_id', 'message_id'], optional: [] },
};
const PARSE_MODES = new Set(['HTML', 'MarkdownV2', 'Markdown']);

/** A request's parameters against METHODS: missing, unknown, or a value the documentation does not allow. */
export function refuseParams(method: string, p: Record<string, unknown>): string | undefined {
  const m = METHODS[method];
  if (!m) return `Not Found: method ${method} is not in the stand-in's table (add it from the Bot API documentation)`;
  for (const k of m.required) if (p[k] === undefined) return `Bad Request: ${k} is required`;
  for (const k of Object.keys(p)) if (!m.required.includes(k) && !m.optional.includes(k)) return `Bad Request: unexpected parameter ${k} for ${method}`;
  if (p.parse_mode !== undefined && !PARSE_MODES.has(String(p.parse_mode))) return `Bad Request: unsupported parse_mode ${String(p.parse_mode)}`;
  for (const k of ['disable_notification', 'protect_content', 'show_alert', 'drop_pending_updates']) if (p[k] !== undefined && typeof p[k] !== 'boolean') return `Bad Request: ${k} must be a Boolean`;
  if (typeof p.text === 'string' && method === 'answerCallbackQuery' && p.text.length > 200) return 'Bad Request: text of the callback answer is too long (0-200 characters)';
  return undefined;
}

/** What Telegram answers for an inline keyboard it will not take (callback data 1–64 bytes, ≤ 100 buttons, no empty rows). */
export function refuseMarkup(markup: unknown): string | undefined {
  if (markup === undefined) return undefined;
  const rows = (markup as { inline_keyboard?: unknown }).inline_keyboard;
  if (!Array.isArray(rows)) return 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array';
  let n = 0;
  for (const row of rows) {
    if (!Array.isArray(row)) return 'Bad Request: can\'t parse inline keyboard button: InlineKeyboardButton must be an Object';
    for (const b of row as { text?: unknown; callback_data?: unknown; url?: unknown; copy_text?: { text?: unknown }; style?: unknown }[]) {
      n++;
      if (typeof b.text !== 'string' || b.text === '') return 'Bad Request: can\'t parse inline keyboard button: Text must be non-empty';
      if (typeof b.callback_data === 'string' && (b.callback_data.length === 0 || Buffer.byteLength(b.callback_data) > 64)) return 'Bad Request: BUTTON_DATA_INVALID';
      // Exactly one of the fields other than text, icon_custom_emoji_id and style (Bot API 9.4).
      const kinds = Object.keys(b).filter((k) => !['text', 'icon_custom_emoji_id', 'style'].includes(k));
      if (kinds.length !== 1) return `Bad Request: can't parse inline keyboard button: exactly one of callback_data, url, copy_text, … must be given (got ${kinds.join(', ') || 'none'})`;
      if (!['callback_data', 'url', 'copy_text'].includes(kinds[0]!)) return `Bad Request: the stand-in does not know the button field ${kinds[0]}`;
      if (b.style !== undefined && !['danger', 'success', 'primary'].includes(String(b.style))) return 'Bad Request: can\'t parse inline keyboard button: style must be one of "danger", "success", "primary"';
      if (b.copy_text !== undefined && (typeof b.copy_text?.text !== 'string' || b.copy_text.text.length < 1 || b.copy_text.text.length > 256)) return 'Bad Request: can\'t parse inline keyboard button: copy_text must have 1-256 characters of text';
    }
  }
  if (rows.some((r) => Array.isArray(r) && r.length === 0) && n === 0) return 'Bad Request: REPLY_MARKUP_INVALID';
  if (n > 100) return 'Bad Request: REPLY_MARKUP_TOO_LONG';
  return undefined;
}

/** Calls that post or change a message count against a group's 20 per minute. */
const COUNTED = new Set(['sendMessage', 'editMessageText', 'editMessageReplyMarkup', 'deleteMessage']);

export class FakeBotApi {
  readonly calls: Call[] = [];
  readonly messages = new Map<number, StoredMessage>();
  readonly answers = new Map<string, Record<string, unknown>>();
  /** callback query id → when it was pressed and when it was answered (ms). */
  readonly pressTimes = new Map<string, { pressed: number; answered?: number }>();
  private updates: Record<string, unknown>[] = [];
  private nextUpdateId = 1;
  private nextMessageId = 1;
  private waiters: (() => void)[] = [];
  private failures: Failure[] = [];
  /** How long after a press its answer is still accepted (Telegram: about 15 s). */
  callbackDeadlineMs = 15_000;
  /** A time window in which every call (getUpdates too) fails: 500, 429, or the connection drops. */
  private outage: { until: number; mode: 500 | 429 | 'down'; retryAfter: number } | undefined;
  /** The offset of the last getUpdates: every update below it was received by the bot. */
  confirmedOffset = 0;
  /** Long polls open at once, and how often a poll began while another was open (two bot instances). */
  private pollsOpen = 0;
  pollOverlaps = 0;
  private server: http.Server;
  private closed = false;
  url = '';

  constructor(
    readonly token: string,
    readonly botUser = { id: 4242, is_bot: true, first_name: 'Homelab', username: 'homelab_cp_bot' },
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    for (const go of this.heldSends.splice(0)) go();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `count` calls of `method` (or any method: '*') fail with `code`. */
  fail(method: string | '*', code: number, count: number, retryAfter?: number, description?: string): void {
    this.failures.push({ method, code, remaining: count, retryAfter, ...(description ? { description } : {}) });
  }

  /** While true, getUpdates never answers (until `answerPolls`). */
  hangPolls = false;
  private hung: (() => void)[] = [];
  /** getUpdates answers again; the hung ones end. */
  answerPolls(): void {
    this.hangPolls = false;
    for (const r of this.hung.splice(0)) r();
  }

  /** While true, sendMessage stores the message (it has landed) and keeps the answer back. */
  holdSends = false;
  private heldSends: (() => void)[] = [];

  /** Lets held sendMessage answers go. */
  releaseSends(): void {
    this.holdSends = false;
    for (const go of this.heldSends.splice(0)) go();
  }

  /** How many sendMessage answers are being held. */
  get heldSendCount(): number {
    return this.heldSends.length;
  }

  /** Chats that answer 403 (the bot was blocked or kicked). */
  readonly blocked = new Set<number>();
  /** Chats that do not exist, or that the bot never was in: 400 "chat not found", as Telegram says. */
  readonly unknownChats = new Set<number>();
  /** Forum topics that exist, per chat; a chat not listed accepts any message_thread_id. */
  readonly threads = new Map<number, Set<number>>();
  /** Every refusal (4xx) the server gave that no test set up: a test fails on any of these. */
  readonly refusals: { method: string; code: number; description: string }[] = [];
  private allowed: RegExp[] = [/message is not modified/];

  /** Refusals a test causes on purpose (a deadline, a blocked chat) are not counted against it. */
  allowRefusals(re: RegExp): void {
    this.allowed.push(re);
  }

  /** The refusals no test caused. */
  unexpectedRefusals(): { method: string; code: number; description: string }[] {
    return this.refusals.filter((r) => !this.allowed.some((re) => re.test(r.description)));
  }

  clearFailures(): void {
    this.failures = [];
    this.outage = undefined;
  }

  /** For `ms` from now every call fails the given way (Telegram down, or rate limiting us). */
  down(mode: 500 | 429 | 'down', ms: number, retryAfter = 1): void {
    this.outage = { until: Date.now() + ms, mode, retryAfter };
  }

  /** True once the bot has fetched (and so confirmed) every update pushed so far. */
  allConsumed(): boolean {
    return this.confirmedOffset >= this.nextUpdateId;
  }

  callsOf(method: string, okOnly = true): Call[] {
    return this.calls.filter((c) => c.method === method && (!okOnly || c.status === 'ok'));
  }

  /** Messages in the chat as they are now (after edits), oldest first. */
  chat(chatId: number): StoredMessage[] {
    return [...this.messages.values()].filter((m) => m.chat_id === chatId);
  }

  private push(update: Record<string, unknown>): number {
    const update_id = this.nextUpdateId++;
    this.updates.push({ update_id, ...update });
    for (const w of this.waiters.splice(0)) w();
    return update_id;
  }

  /** A user writes `text` in `chatId` (a command when it starts with /). */
  userMessage(chatId: number, from: { id: number; first_name?: string; username?: string }, text: string, threadId?: number): number {
    const entities = text.startsWith('/') ? [{ type: 'bot_command', offset: 0, length: text.split(/\s/)[0]!.length }] : undefined;
    return this.push({
      message: {
        message_id: this.nextMessageId++,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: chatId < 0 ? (threadId !== undefined ? 'supergroup' : 'group') : 'private', ...(threadId !== undefined ? { is_forum: true } : {}) },
        ...(threadId !== undefined ? { message_thread_id: threadId, is_topic_message: true } : {}),
        from: { is_bot: false, first_name: 'User', ...from },
        text,
        ...(entities ? { entities } : {}),
      },
    });
  }

  /** A message the bot sent earlier (before this server started): returns its id. */
  seedMessage(chatId: number, text: string): number {
    const message_id = this.nextMessageId++;
    this.messages.set(message_id, { message_id, chat_id: chatId, text, reply_markup: undefined, edits: 0 });
    return message_id;
  }

  /** A user presses a button; resolves with what the bot answered (the callback's answer). */
  press(messageId: number, data: string, from: { id: number; first_name?: string; username?: string }): string {
    const m = this.messages.get(messageId);
    const id = `cq${this.nextUpdateId}`;
    this.pressTimes.set(id, { pressed: Date.now() });
    this.push({
      callback_query: {
        id,
        from: { is_bot: false, first_name: 'User', ...from },
        chat_instance: 'ci',
        data,
        message: m
          ? { message_id: m.message_id, date: Math.floor(Date.now() / 1000), chat: { id: m.chat_id, type: m.chat_id < 0 ? 'group' : 'private' }, text: m.text }
          : { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: { id: 1, type: 'private' }, text: '' },
      },
    });
    return id;
  }

  /** The callback_data of the button labelled `label` on message `messageId`. */
  button(messageId: number, label: string | RegExp): string {
    const m = this.messages.get(messageId);
    const b = m?.reply_markup?.inline_keyboard.flat().find((x) => (typeof label === 'string' ? x.text === label : label.test(x.text)));
    if (!b?.callback_data) throw new Error(`no button ${label} on message ${messageId}: ${JSON.stringify(m?.reply_markup)}`);
    return b.callback_data;
  }

  /** One long poll: what is queued from `offset`, or a wait of up to `timeout` seconds for it. */
  private async poll(p: Record<string, unknown>, req: http.IncomingMessage): Promise<unknown[]> {
    // A Bot API that stops answering long polls (a dead connection): the call hangs until closed.
    if (this.hangPolls) await new Promise<void>((resolve) => this.hung.push(resolve));
    const offset = Number(p.offset ?? 0);
    this.confirmedOffset = Math.max(this.confirmedOffset, offset);
    this.updates = this.updates.filter((u) => (u.update_id as number) >= offset);
    const timeout = Number(p.timeout ?? 0);
    if (this.updates.length === 0 && timeout > 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeout * 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
        req.on('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const limit = Number(p.limit ?? 100);
    return this.updates.slice(0, limit);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (!m) return send(404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, method] = m as unknown as [string, string, string];
    const o = this.outage;
    if (o && Date.now() < o.until) {
      this.calls.push({ method, params: {}, at: Date.now(), status: o.mode === 'down' ? 0 : o.mode });
      if (o.mode === 'down') return void req.socket.destroy();
      return send(o.mode, {
        ok: false,
        error_code: o.mode,
        description: o.mode === 429 ? `Too Many Requests: retry after ${o.retryAfter}` : 'Internal Server Error',
        ...(o.mode === 429 ? { parameters: { retry_after: o.retryAfter } } : {}),
      });
    }
    if (token !== this.token) return send(401, { ok: false, error_code: 401, description: 'Unauthorized' });
    let params: Record<string, unknown> = {};
    const raw = Buffer.concat(chunks).toString('utf8');
    if (raw) {
      try {
        params = JSON.parse(raw);
      } catch {
        return send(400, { ok: false, error_code: 400, description: 'Bad Request: cannot parse JSON' });
      }
    }
    const call: Call = { method, params, at: Date.now(), status: 'ok' };
    this.calls.push(call);
    const f = this.failures.find((x) => x.remaining > 0 && (x.method === '*' ? method !== 'getUpdates' : x.method === method));
    if (f) {
      f.remaining--;
      call.status = f.code;
      return send(f.code, {
        ok: false,
        error_code: f.code,
        description: f.description ?? (f.code === 429 ? `Too Many Requests: retry after ${f.retryAfter ?? 1}` : f.code === 401 ? 'Unauthorized' : 'Internal Server Error'),
        ...(f.code === 429 ? { parameters: { retry_after: f.retryAfter ?? 1 } } : {}),
      });
    }
    const result = await this.dispatch(method, params, req);
    if (result instanceof Error) {
      const { code = 400, retryAfter } = result as Error & { code?: number; retryAfter?: number };
      call.status = code;
      if (!(code === 403 && this.blocked.size > 0) && !(/chat not found/.test(result.message) && this.unknownChats.size > 0)) this.refusals.push({ method, code, description: result.message });
      return send(code, { ok: false, error_code: code, description: result.message, ...(retryAfter !== undefined ? { parameters: { retry_after: retryAfter } } : {}) });
    }
    send(200, { ok: true, result });
  }

  /** When each counted call to a group was made (ms), per chat: Telegram allows 20 in any minute. */
  private groupCalls = new Map<number, number[]>();

  /** 429 for a group that had 20 counted calls in the last 60 s, as Telegram does. */
  private groupLimit(method: string, p: Record<string, unknown>): Error | undefined {
    const chat = Number(p.chat_id);
    if (!COUNTED.has(method) || !(chat < 0)) return undefined;
    const now = Date.now();
    const list = (this.groupCalls.get(chat) ?? []).filter((t) => t > now - 60_000);
    this.groupCalls.set(chat, list);
    if (list.length >= 20) {
      const retry = Math.ceil((list[0]! + 60_000 - now) / 1000);
      return Object.assign(new Error(`Too Many Requests: retry after ${retry}`), { code: 429, retryAfter: retry });
    }
    list.push(now);
    return undefined;
  }

  /** What Telegram answers for a chat the bot cannot reach, or a topic that is not there. */
  private chatRefusal(p: Record<string, unknown>): Error | undefined {
    if (p.chat_id === undefined) return undefined;
    const chat = Number(p.chat_id);
    if (this.unknownChats.has(chat)) return new Error('Bad Request: chat not found');
    if (this.blocked.has(chat)) return Object.assign(new Error(chat < 0 ? 'Forbidden: bot was kicked from the group chat' : 'Forbidden: bot was blocked by the user'), { code: 403 });
    const topics = this.threads.get(chat);
    if (p.message_thread_id !== undefined && topics && !topics.has(Number(p.message_thread_id))) return new Error('Bad Request: message thread not found');
    return undefined;
  }

  private async dispatch(method: string, p: Record<string, unknown>, req: http.IncomingMessage): Promise<unknown> {
    const wrong = refuseParams(method, p);
    if (wrong) return new Error(wrong);
    const limited = this.groupLimit(method, p);
    if (limited) return limited;
    if (method !== 'getUpdates' && method !== 'getMe' && method !== 'answerCallbackQuery' && method !== 'setMyCommands') {
      const refused = this.chatRefusal(p);
      if (refused) return refused;
    }
    if (COUNTED.has(method) && method !== 'deleteMessage') {
      const bad = refuseMarkup(p.reply_markup);
      if (bad) return new Error(bad);
    }
    switch (method) {
      case 'getMe':
        return this.botUser;
      case 'getChat': {
        const id = Number(p.chat_id);
        return { id, type: id < 0 ? 'supergroup' : 'private', ...(id < 0 ? { title: 'Homelab' } : { first_name: 'Oskar' }) };
      }
      case 'sendChatAction':
        return true;
      case 'deleteWebhook':
      case 'setMyCommands':
        return true;
      case 'getUpdates': {
        // Telegram allows one poller per bot: a second poll while one is open is a conflict (409 there).
        if (this.pollsOpen > 0) this.pollOverlaps++;
        this.pollsOpen++;
        try {
          return await this.poll(p, req);
        } finally {
          this.pollsOpen--;
        }
      }
      case 'sendMessage': {
        const chat_id = Number(p.chat_id);
        const text = String(p.text ?? '');
        const refused = refuseText(text, p.parse_mode === 'HTML');
        if (refused) return new Error(refused);
        const message_id = this.nextMessageId++;
        const thread = p.message_thread_id === undefined ? undefined : Number(p.message_thread_id);
        if (p.disable_notification !== undefined && typeof p.disable_notification !== 'boolean') return new Error('Bad Request: disable_notification must be a Boolean');
        this.messages.set(message_id, { message_id, chat_id, text, reply_markup: p.reply_markup as StoredMessage['reply_markup'], edits: 0, ...(thread !== undefined ? { message_thread_id: thread } : {}), ...(p.disable_notification === true ? { disable_notification: true } : {}) });
        if (this.holdSends) await new Promise<void>((resolve) => this.heldSends.push(resolve));
        return { message_id, date: Math.floor(Date.now() / 1000), chat: { id: chat_id, type: 'private' }, text };
      }
      case 'editMessageText': {
        const msg = this.messages.get(Number(p.message_id));
        if (!msg || msg.chat_id !== Number(p.chat_id)) return new Error('Bad Request: message to edit not found');
        const text = String(p.text ?? '');
        const refused = refuseText(text, p.parse_mode === 'HTML');
        if (refused) return new Error(refused);
        const markup = p.reply_markup as StoredMessage['reply_markup'];
        if (text === msg.text && JSON.stringify(markup) === JSON.stringify(msg.reply_markup)) {
          return new Error('Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
        }
        msg.text = text;
        msg.reply_markup = markup;
        msg.edits++;
        return { message_id: msg.message_id, chat: { id: msg.chat_id, type: 'private' }, text };
      }
      case 'editMessageReplyMarkup': {
        const msg = this.messages.get(Number(p.message_id));
        if (!msg) return new Error('Bad Request: message to edit not found');
        msg.reply_markup = p.reply_markup as StoredMessage['reply_markup'];
        msg.edits++;
        return true;
      }
      case 'answerCallbackQuery': {
        // As Telegram: a press must be answered within its deadline (about 15 s).
        const pressed = this.pressTimes.get(String(p.callback_query_id))?.pressed;
        if (pressed !== undefined && Date.now() - pressed > this.callbackDeadlineMs) {
          return new Error('Bad Request: query is too old and response timeout expired or query ID is invalid');
        }
        this.answers.set(String(p.callback_query_id), p);
        if (this.pressTimes.has(String(p.callback_query_id))) this.pressTimes.get(String(p.callback_query_id))!.answered = Date.now();
        return true;
      }
      case 'deleteMessage':
        return this.messages.delete(Number(p.message_id));
      default:
        return new Error(`Bad Request: method ${method} not implemented by the test server`);
    }
  }
}

/** The bot's identity in tests: its token, its chat, one admin and one stranger. */
export const TEST_BOT = {
  token: '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-test',
  chat: 555,
  admin: { id: 1001, username: 'oskar', first_name: 'Oskar' },
  stranger: { id: 2002, username: 'mallory', first_name: 'Mallory' },
};

/** The environment that turns Telegram on against `api`. */
export function botEnv(api: FakeBotApi): Record<string, string> {
  return {
    TELEGRAM_BOT_TOKEN: TEST_BOT.token,
    TELEGRAM_CHAT_ID: String(TEST_BOT.chat),
    TELEGRAM_ADMIN_IDS: String(TEST_BOT.admin.id),
    TELEGRAM_API_ROOT: api.url,
    // The start and stop messages have a test of their own; elsewhere they would be noise.
    TELEGRAM_LIFECYCLE_MESSAGES: 'off',
  };
}
