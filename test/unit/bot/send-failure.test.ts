// Every answer Telegram can give to a send or an edit, and what it means for the message.
import { GrammyError, HttpError } from 'grammy';
import { describe, expect, it } from 'vitest';
import { classifySendFailure } from '../../../src/bot/send-failure.js';

const api = (error_code: number, description: string, parameters: Record<string, unknown> = {}) =>
  new GrammyError(`Call to 'sendMessage' failed! (${error_code}: ${description})`, { ok: false, error_code, description, parameters }, 'sendMessage', {});

describe('what a refused or failed call means', () => {
  it.each([
    [api(429, 'Too Many Requests: retry after 7', { retry_after: 7 }), { kind: 'rate_limited', afterMs: 7000 }],
    [api(400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same'), { kind: 'not_modified' }],
    [api(400, 'Bad Request: message to edit not found'), { kind: 'message_gone' }],
    [api(400, "Bad Request: message can't be edited"), { kind: 'message_gone' }],
    [api(403, 'Forbidden: bot was blocked by the user'), { kind: 'unavailable' }],
    [api(400, 'Bad Request: chat not found'), { kind: 'unavailable' }],
    [api(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: -100123 }), { kind: 'unavailable' }],
    [api(401, 'Unauthorized'), { kind: 'unauthorized' }],
    [api(400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3"), { kind: 'refused' }],
    [api(400, 'Bad Request: message is too long'), { kind: 'refused' }],
    [api(502, 'Bad Gateway'), { kind: 'transient' }],
    [new HttpError('Network request for sendMessage failed!', new Error('ECONNRESET')), { kind: 'transient' }],
  ] as const)('%s', (err, verdict) => {
    const f = classifySendFailure(err);
    expect(f.verdict).toEqual(verdict);
    expect(f.reason.length).toBeGreaterThan(0);
  });

  it('keeps the code and the description for the log and the record', () => {
    expect(classifySendFailure(api(400, 'Bad Request: chat not found'))).toMatchObject({ code: 400, reason: 'Bad Request: chat not found' });
    expect(classifySendFailure(new Error('socket hang up'))).toEqual({ verdict: { kind: 'transient' }, code: undefined, reason: 'socket hang up' });
  });

  it('a 429 without retry_after waits one second', () => {
    expect(classifySendFailure(api(429, 'Too Many Requests')).verdict).toEqual({ kind: 'rate_limited', afterMs: 1000 });
  });
});
