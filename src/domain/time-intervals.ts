// Maintenance windows in Alertmanager's `time_intervals` grammar (docs/operator/maintenance.md):
// `times` (HH:MM, start inclusive, end exclusive, end up to 24:00), `weekdays` (monday or
// monday:friday), `days_of_month` (1, 1:5, -1 for the last day, -3:-1), `months` (january or 1,
// ranges), `years` (2026, 2026:2027) and `location` (an IANA time zone; UTC when left out).
// Every field given must match, in the wall-clock time of `location` — so a window of 02:00–04:00
// in Europe/Berlin lasts one hour on the night clocks go forward and three on the night they go
// back, as Alertmanager's does. Pure: time zones come from the runtime's ICU data.
import { z } from 'zod';

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];

/** A range of whole numbers, both ends included. */
type Range = [number, number];

export interface TimeInterval {
  /** Minutes of the day, [start, end). */
  times: Range[];
  /** 0 = sunday. */
  weekdays: Range[];
  /** Positive or negative (from the month's end), resolved per month. */
  daysOfMonth: Range[];
  /** 1 = january. */
  months: Range[];
  years: Range[];
  location: string;
}

function minutes(t: string): number | undefined {
  const m = /^(\d{2}):(\d{2})$/.exec(t);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

/** `a` or `a:b`, each end read by `one`; undefined when either end is not one. */
function range(text: string, one: (s: string) => number | undefined): Range | undefined {
  const parts = text.trim().toLowerCase().split(':');
  if (parts.length > 2) return undefined;
  const a = one(parts[0]!);
  const b = parts.length === 2 ? one(parts[1]!) : a;
  return a === undefined || b === undefined ? undefined : [a, b];
}

const named = (names: string[], offset: number, max: number) => (s: string) => {
  const i = names.indexOf(s);
  if (i >= 0) return i + offset;
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  return offset === 1 && n >= 1 && n <= max ? n : undefined;
};
const weekday = (s: string) => {
  const i = WEEKDAYS.indexOf(s);
  return i >= 0 ? i : undefined;
};
const month = named(MONTHS, 1, 12);
const dayOfMonth = (s: string) => (/^-?\d+$/.test(s) && Number(s) !== 0 && Math.abs(Number(s)) <= 31 ? Number(s) : undefined);
const year = (s: string) => (/^\d{4}$/.test(s) ? Number(s) : undefined);

/** Whether `tz` is a time zone this runtime knows. */
export function knownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const list = <T>(what: string, parse: (s: string) => T | undefined, example: string) =>
  z.array(
    z.string().transform((s, ctx) => {
      const v = parse(s);
      if (v === undefined) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is not ${what} (e.g. ${example})` });
        return z.NEVER;
      }
      return v;
    }),
  );

const TimeRangeSchema = z
  .strictObject({ start_time: z.string(), end_time: z.string() })
  .transform((t, ctx): Range => {
    const a = minutes(t.start_time);
    const b = minutes(t.end_time);
    if (a === undefined || a >= 24 * 60) ctx.addIssue({ code: 'custom', message: `start_time ${JSON.stringify(t.start_time)} is not a time of day HH:MM from 00:00 to 23:59`, path: ['start_time'] });
    if (b === undefined) ctx.addIssue({ code: 'custom', message: `end_time ${JSON.stringify(t.end_time)} is not a time of day HH:MM from 00:01 to 24:00`, path: ['end_time'] });
    if (a !== undefined && b !== undefined && a >= b) ctx.addIssue({ code: 'custom', message: `end_time ${t.end_time} must come after start_time ${t.start_time} (a window past midnight is two: …–24:00 and 00:00–…)` });
    return [a ?? 0, b ?? 0];
  });

const ascending = (what: string) => (rs: Range[], ctx: z.RefinementCtx) => {
  for (const [a, b] of rs) if (a > b && !(what === 'days_of_month' && a > 0 && b < 0)) ctx.addIssue({ code: 'custom', message: `${what}: a range must go from the smaller to the larger` });
};

/** One window as services.yaml writes it. */
export const TimeIntervalSchema = z
  .strictObject({
    times: z.array(TimeRangeSchema, { message: 'must be a list of { start_time: "HH:MM", end_time: "HH:MM" }' }).optional(),
    weekdays: list('a weekday or a range of them', (s) => range(s, weekday), "saturday, 'monday:friday'").superRefine(ascending('weekdays')).optional(),
    days_of_month: list('a day of the month or a range', (s) => range(s, dayOfMonth), "1, '1:7', -1 (the last day), '-3:-1'").superRefine(ascending('days_of_month')).optional(),
    months: list('a month or a range', (s) => range(s, month), "january, '1:3', 'june:august'").superRefine(ascending('months')).optional(),
    years: list('a year or a range', (s) => range(s, year), "2026, '2026:2027'").superRefine(ascending('years')).optional(),
    location: z
      .string()
      .refine((tz) => tz === 'Local' || knownTimeZone(tz), { message: 'is not a time zone this system knows (an IANA name such as Europe/Berlin, or UTC)' })
      .optional(),
  })
  .transform(
    (t): TimeInterval => ({
      times: t.times ?? [],
      weekdays: t.weekdays ?? [],
      daysOfMonth: t.days_of_month ?? [],
      months: t.months ?? [],
      years: t.years ?? [],
      location: t.location === 'Local' ? Intl.DateTimeFormat().resolvedOptions().timeZone : (t.location ?? 'UTC'),
    }),
  );

const formats = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock time of `at` in `tz`. */
function wallClock(at: number, tz: string): { year: number; month: number; day: number; weekday: number; minute: number } {
  let f = formats.get(tz);
  if (!f) formats.set(tz, (f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'long' })));
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(at)) p[part.type] = part.value;
  return { year: Number(p.year), month: Number(p.month), day: Number(p.day), weekday: WEEKDAYS.indexOf(p.weekday!.toLowerCase()), minute: Number(p.hour) * 60 + Number(p.minute) };
}

const within = (rs: Range[], v: number) => rs.length === 0 || rs.some(([a, b]) => v >= a && v <= b);

/** Whether the instant `at` (epoch ms) is inside the window. */
export function inInterval(iv: TimeInterval, at: number): boolean {
  const w = wallClock(at, iv.location);
  if (iv.times.length && !iv.times.some(([a, b]) => w.minute >= a && w.minute < b)) return false;
  if (!within(iv.weekdays, w.weekday) || !within(iv.months, w.month) || !within(iv.years, w.year)) return false;
  if (iv.daysOfMonth.length) {
    const last = new Date(Date.UTC(w.year, w.month, 0)).getUTCDate();
    const resolve = (d: number) => (d < 0 ? last + 1 + d : d);
    if (!iv.daysOfMonth.some(([a, b]) => w.day >= resolve(a) && w.day <= Math.min(resolve(b), last))) return false;
  }
  return true;
}

/** Whether `at` is inside any of the windows. */
export function inAnyInterval(ivs: readonly TimeInterval[], at: number): boolean {
  return ivs.some((iv) => inInterval(iv, at));
}

/**
 * When the window that holds `at` ends (the first minute after `at` outside every window of
 * `ivs`), looking at most `horizonMs` ahead; undefined when `at` is outside them all or the end
 * is further than that.
 */
export function windowEnd(ivs: readonly TimeInterval[], at: number, horizonMs = 8 * 86_400_000): number | undefined {
  if (!inAnyInterval(ivs, at)) return undefined;
  let t = Math.floor(at / 60_000) * 60_000 + 60_000;
  for (const end = at + horizonMs; t <= end; t += 60_000) if (!inAnyInterval(ivs, t)) return t;
  return undefined;
}

/** The first instant after `at` whose wall-clock time in `tz` is `hhmm` ("08:00"): tomorrow morning, or this one. */
export function nextWallClock(at: number, tz: string, hhmm: string): number {
  const target = minutes(hhmm);
  if (target === undefined) throw new Error(`not a time of day: ${hhmm}`);
  let t = Math.floor(at / 60_000) * 60_000 + 60_000;
  // At most two days ahead (a day and the hour a DST change may skip).
  for (const end = at + 49 * 3_600_000; t <= end; t += 60_000) if (wallClock(t, tz).minute === target) return t;
  throw new Error(`${hhmm} does not occur in ${tz} within two days`);
}
