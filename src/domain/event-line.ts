// One line of an events file, judged: valid JSON of the event schema, of the file's node (after
// aliasing) and of the file's day (±1 day of slack); anything else is malformed and changes nothing.
// Events exactly as agents write them take a zod-free path (fastEvent) that accepts only what the
// schema accepts; anything else goes through zod, which decides and explains.
import { AGENT_RE, EventSchema, NAME_RE, type NodeEvent } from './schemas.js';
import { classify, canonicalNode, type ObserveConfig } from './observe.js';

export type LineResult =
  | { ok: true; event: NodeEvent }
  | { ok: false; reason: string; /** Set when the line was refused for being stamped ahead of the clock: by how much. */ aheadMs?: number };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const DAY_MS = 86_400_000;

/**
 * Parses one complete line of `events/<day>/<fileNode>.jsonl`. The event's node must be the file's
 * node (after aliasing), and its time must fall on the file's day (±1 day of slack for clocks
 * and late writers): anything else is malformed and changes nothing.
 */
export function parseEventLine(line: string | Uint8Array, fileNode: string, fileDay: string, cfg: ObserveConfig, now?: number): LineResult {
  let text: string;
  try {
    text = typeof line === 'string' ? (line.charCodeAt(0) === 0xfeff ? line.slice(1) : line) : utf8.decode(line);
  } catch {
    return { ok: false, reason: 'invalid UTF-8' };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `invalid JSON (${(err as Error).message})` };
  }
  const fast = fastEvent(raw);
  const parsed = fast ? { success: true as const, data: fast } : EventSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? `${issue.path.join('.')}: ` : '';
    return { ok: false, reason: `schema: ${where}${issue?.message ?? 'invalid'}` };
  }
  const event = parsed.data;
  const node = canonicalNode(event.node, cfg);
  // fastEvent checked the name already; an alias is checked here.
  if ((!fast || node !== event.node) && !NAME_RE.test(node)) return { ok: false, reason: `alias of ${event.node} is not a valid node name` };
  if (node !== canonicalNode(fileNode, cfg)) {
    return { ok: false, reason: `event of node ${event.node} in the file of node ${fileNode}` };
  }
  // A canonical timestamp (all fastEvent lets through) orders as a string: no Date per event.
  const day = dayWindow(fileDay);
  const t = fast ? undefined : Date.parse(event.ts);
  if (t === undefined ? event.ts < day.from || event.ts >= day.to : !Number.isFinite(t) || t < day.start - DAY_MS || t >= day.start + 2 * DAY_MS) {
    return { ok: false, reason: `ts ${event.ts} is not on the file's day ${fileDay}` };
  }
  if (now !== undefined && cfg.maxFutureMs !== undefined && (t === undefined ? event.ts > isoAt(now + cfg.maxFutureMs) : t > now + cfg.maxFutureMs)) {
    const aheadMs = (t ?? Date.parse(event.ts)) - now;
    return { ok: false, reason: `ts ${event.ts} is ${Math.round(aheadMs / 1000)} s ahead of this machine's clock`, aheadMs };
  }
  const kind = classify(event.type);
  if ((kind === 'positive' || kind === 'negative') && !event.service) {
    return { ok: false, reason: `${event.type} needs a service` };
  }
  if (event.type === 'disk_pressure') {
    const level = event.detail?.level;
    if (level !== 'high' && level !== 'normal') return { ok: false, reason: 'disk_pressure needs detail.level high or normal' };
  }
  // Agents already write canonical UTC timestamps: only other forms are rewritten.
  // (Days 29–31 always go through Date, so an impossible date like 02-30 is normalised as before.)
  const ts = t === undefined || (CANONICAL_TS.test(event.ts) && event.ts.slice(8, 10) <= '28') ? event.ts : new Date(t).toISOString();
  if (node === event.node && ts === event.ts) return { ok: true, event };
  return { ok: true, event: { ...event, node, ts } };
}

/**
 * The common case without zod: an event exactly as agents write it. Accepts only what EventSchema
 * accepts (a differential test checks this) and returns the same value (unknown keys dropped);
 * anything else goes through EventSchema, which decides and explains.
 */
export function fastEvent(raw: unknown): NodeEvent | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const { ts, node, type, service, detail, seq, agent } = r;
  if (typeof ts !== 'string' || !FAST_TS.test(ts)) return undefined;
  if (typeof node !== 'string' || !NAME_RE.test(node)) return undefined;
  if (typeof type !== 'string' || type.length > 64 || !TYPE_RE.test(type)) return undefined;
  if (service !== undefined && (typeof service !== 'string' || !NAME_RE.test(service))) return undefined;
  if (detail !== undefined && (typeof detail !== 'object' || detail === null || Array.isArray(detail) || Object.getPrototypeOf(detail) !== Object.prototype)) return undefined;
  if (seq !== undefined && (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)) return undefined;
  if (agent !== undefined && (typeof agent !== 'string' || !AGENT_RE.test(agent))) return undefined;
  const out: NodeEvent = { ts, node, type };
  if (service !== undefined) out.service = service;
  if (detail !== undefined) out.detail = detail as Record<string, unknown>;
  if (seq !== undefined) out.seq = seq;
  if (agent !== undefined) out.agent = agent;
  return out;
}

/** Canonical UTC timestamps on days 01–28 of a real month: valid in every calendar. */
const FAST_TS = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
const TYPE_RE = /^[A-Za-z0-9_.:-]+$/;

const CANONICAL_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A file's day: its start, and the canonical timestamps of its window (a day before, two after). */
interface DayWindow {
  start: number;
  from: string;
  to: string;
}
const dayWindows = new Map<string, DayWindow>();
function dayWindow(day: string): DayWindow {
  let v = dayWindows.get(day);
  if (v === undefined) {
    const start = Date.parse(`${day}T00:00:00.000Z`);
    // An impossible day name bounds nothing (as NaN compares false above).
    v = Number.isFinite(start) ? { start, from: new Date(start - DAY_MS).toISOString(), to: new Date(start + 2 * DAY_MS).toISOString() } : { start, from: '', to: '\uffff' };
    if (dayWindows.size > 1000) dayWindows.clear();
    dayWindows.set(day, v);
  }
  return v;
}

/** `new Date(ms).toISOString()`, remembered for the last instant asked (one per pass). */
let lastIso: { ms: number; iso: string } = { ms: NaN, iso: '' };
function isoAt(ms: number): string {
  if (lastIso.ms !== ms) lastIso = { ms, iso: Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : '\uffff' };
  return lastIso.iso;
}
