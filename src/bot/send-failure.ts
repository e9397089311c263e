// What a refused or failed Bot API call means for the message it carried (docs/operator/telegram.md):
// one classification, pure, so every answer Telegram can give is decided in one place and tested
// on its own. The outbox (outbox.ts) acts on the verdict; nothing is dropped silently.

/** An error as grammY reports it: the API said no (with a code), or the network failed. */
interface ApiErrorLike {
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

export type SendVerdict =
  /** 429: wait as told, then the same call again. */
  | { kind: 'rate_limited'; afterMs: number }
  /** 400 "message is not modified": it already says this, which is a delivery. */
  | { kind: 'not_modified' }
  /** Deleted in the chat, or too old to edit: send it as a new message. */
  | { kind: 'message_gone' }
  /** 403, or a chat not there any more: keep everything, probe until it is back. */
  | { kind: 'unavailable' }
  /** 401: the token was revoked; nothing goes until a restart with a new one. */
  | { kind: 'unauthorized' }
  /** Any other 4xx: Telegram refused these words (our bug: HTML, length, …). */
  | { kind: 'refused' }
  /** 5xx or the network: Telegram, or the way there, is down; back off and keep everything. */
  | { kind: 'transient' };

export interface SendFailure {
  verdict: SendVerdict;
  /** Telegram's code, when it answered. */
  code: number | undefined;
  /** Its description, or the network error's message. */
  reason: string;
}

export function classifySendFailure(err: unknown): SendFailure {
  const e = err as ApiErrorLike & Error;
  const code = e.error_code;
  const reason = e.description ?? e.message ?? String(err);
  const verdict = ((): SendVerdict => {
    if (code === 429) return { kind: 'rate_limited', afterMs: (e.parameters?.retry_after ?? 1) * 1000 };
    if (code === 400 && /message is not modified/i.test(reason)) return { kind: 'not_modified' };
    if (code === 400 && /message to edit not found|message can't be edited|MESSAGE_ID_INVALID/i.test(reason)) return { kind: 'message_gone' };
    if (code === 403 || (code === 400 && /chat not found|group chat was upgraded|have no rights to send/i.test(reason))) return { kind: 'unavailable' };
    if (code === 401) return { kind: 'unauthorized' };
    if (typeof code === 'number' && code >= 400 && code < 500) return { kind: 'refused' };
    return { kind: 'transient' };
  })();
  return { verdict, code, reason };
}
