// The daily digest (TELEGRAM_DIGEST_CRON): what happened since the last one, and what still waits
// for a decision, with one button that opens the pending list. Lane 4: it never delays an answer.
import { digestOf, digestSince } from '../domain/digest.js';
import { DigestMark } from '../store/digest-mark.js';
import { buttonsFor } from './callback-data.js';
import type { BotKit } from './context.js';
import { splitText, type Buttons } from './render.js';
import { renderDigest } from './render-replies.js';

/** Sends the digest; returns its text. */
export async function sendDigest(kit: BotKit): Promise<string> {
  const { deps } = kit;
  const mark = new DigestMark(deps.stateDir, deps.log, deps.stateDocs);
  const now = deps.now();
  const since = await mark.lastAt();
  const d = digestOf({
    since,
    now,
    world: deps.world(),
    desired: deps.desired(),
    finished: await deps.actions.finishedSince(digestSince(since, now)),
    pending: await deps.actions.list('pending'),
    ...(deps.updates ? deps.updates() : {}),
    ...(deps.data?.() ? { data: deps.data()! } : {}),
  });
  const text = renderDigest(d, now);
  const key = `digest:${new Date(now).toISOString()}`;
  const buttons: Buttons = d.pending.length ? [[{ text: `⏳ Decide (${d.pending.length} pending)`, data: buttonsFor(kit.refs.ref(key))('openPending') }]] : [];
  const parts = splitText(text);
  for (let i = 0; i < parts.length; i++) {
    await kit.outbox.upsert(parts.length === 1 ? key : `${key}:${i + 1}`, {
      chatId: deps.options.chatId,
      text: parts[i]!,
      buttons: i === parts.length - 1 ? buttons : [],
      meta: { kind: 'digest', final: true },
    });
  }
  await mark.sent(now);
  return text;
}
