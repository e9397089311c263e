// What an agent may send the control plane, by any road (POST /ingest/events, a JetStream
// message): one event of the event schema, of the node the sender speaks for (or an alias of
// it), a service where its type needs one, at most 64 KiB as a line (docs/design/observer.md).
import { canonicalNode, classify } from './observe.js';
import { EventSchema, MAX_EVENT_LINE_BYTES } from './schemas.js';

export type IngestCheck = { ok: true; ts: string; line: string } | { ok: false; status: 400 | 403 | 413; error: string };

/** Checks one sent event (`item`, parsed JSON) against the node `node` that sent it. */
export function checkIngestEvent(item: unknown, node: string, aliases: Readonly<Record<string, string>>): IngestCheck {
  const parsed = EventSchema.safeParse(item);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, status: 400, error: `${issue?.path.join('.') || 'event'}: ${issue?.message}` };
  }
  const e = parsed.data;
  if (canonicalNode(e.node, { aliases }) !== canonicalNode(node, { aliases })) return { ok: false, status: 403, error: `is of node ${e.node}; ${node} may only send its own events` };
  const kind = classify(e.type);
  if ((kind === 'positive' || kind === 'negative') && !e.service) return { ok: false, status: 400, error: `${e.type} needs a service` };
  const line = JSON.stringify(e);
  if (Buffer.byteLength(line) > MAX_EVENT_LINE_BYTES) return { ok: false, status: 413, error: 'is longer than 64 KiB' };
  return { ok: true, ts: e.ts, line };
}
