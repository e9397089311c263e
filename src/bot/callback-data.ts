// What a button carries back when it is pressed: an operation and a short reference, typed.
// Telegram allows 1–64 bytes of callback data; ours is `<code>:<ref>[:<n>]`, at most 40 bytes.
// Every string decodes to a known operation or to `invalid` (docs/design/telegram.md).

/** Every operation a button can ask for, by name. */
export const OPS = {
  // An action (its own message, a /pending list).
  approve: 'ap',
  reject: 'rj',
  confirm: 'cf',
  back: 'bk',
  logs: 'lg',
  /** The whole text of what an action's message shows cut (an error, the evidence). */
  details: 'dt',
  /** An image update: reject it and never propose that digest again. */
  skipVersion: 'sv',
  /** Snooze its service for an hour, until the next morning, or until it recovers; and undo it. */
  snoozeHour: 'zh',
  snoozeMorning: 'zm',
  snoozeRecover: 'zr',
  unsnooze: 'zu',
  // A group of actions, or the list /pending shows.
  approveLowRisk: 'ga',
  rejectAll: 'gr',
  showEach: 'gs',
  page: 'pg',
  openPending: 'po',
  // A notice, a silence.
  confirmRemoval: 'nr',
  removeSilence: 'sr',
  // The /recover menu.
  recoverMenu: 'rx',
  replay: 'rr',
  replayConfirmed: 'ry',
  diagnose: 'rd',
  cancelAll: 'rc',
  cancelAllConfirmed: 'cy',
} as const;

export type Op = keyof typeof OPS;
export interface CallbackData {
  op: Op;
  /** A key of the reference table (refs.ts) or a silence id. */
  ref: string;
  /** A page number (op `page`). */
  n?: number;
}
export type Decoded = CallbackData | { op: 'invalid' };

const BY_CODE = new Map<string, Op>(Object.entries(OPS).map(([op, code]) => [code, op as Op]));
const REF = /^[A-Za-z0-9_-]{1,24}$/;
const DATA = /^([a-z]{2}):([A-Za-z0-9_-]{1,24})(?::(\d{1,4}))?$/;

/** The callback data of a button; throws on a reference no decoder would accept (a bug). */
export function encode(d: CallbackData): string {
  if (!REF.test(d.ref)) throw new Error(`callback reference "${d.ref}" is not 1–24 characters of [A-Za-z0-9_-]`);
  const n = d.n === undefined ? '' : `:${Math.max(0, Math.min(9999, Math.trunc(d.n)))}`;
  return `${OPS[d.op]}:${d.ref}${n}`;
}

/** What a pressed button asks for; anything not made by encode() is `invalid`. */
export function decode(data: unknown): Decoded {
  if (typeof data !== 'string' || data.length > 64) return { op: 'invalid' };
  const m = DATA.exec(data);
  const op = m ? BY_CODE.get(m[1]!) : undefined;
  if (!m || !op) return { op: 'invalid' };
  if ((op === 'page') !== (m[3] !== undefined)) return { op: 'invalid' };
  return m[3] === undefined ? { op, ref: m[2]! } : { op, ref: m[2]!, n: Number(m[3]) };
}

/** A function that makes the data of each button for one reference. */
export function buttonsFor(ref: string): (op: Op, n?: number) => string {
  return (op, n) => encode({ op, ref, ...(n !== undefined ? { n } : {}) });
}
