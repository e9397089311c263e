// Maintenance windows in Alertmanager's time_intervals grammar, evaluated in their location's
// wall-clock time (DST included).
import { describe, expect, it } from 'vitest';
import { inInterval, TimeIntervalSchema, windowEnd, type TimeInterval } from '../../../src/domain/time-intervals.js';

const iv = (spec: unknown): TimeInterval => TimeIntervalSchema.parse(spec);
const at = (iso: string) => Date.parse(iso);

describe('time intervals', () => {
  it('weekend nights 02:00–04:00 in Europe/Berlin, start included, end excluded', () => {
    const w = iv({ weekdays: ['saturday', 'sunday'], times: [{ start_time: '02:00', end_time: '04:00' }], location: 'Europe/Berlin' });
    // Saturday 2026-06-06, CEST (UTC+2).
    expect(inInterval(w, at('2026-06-05T23:59:00Z'))).toBe(false);
    expect(inInterval(w, at('2026-06-06T00:00:00Z'))).toBe(true);
    expect(inInterval(w, at('2026-06-06T01:59:00Z'))).toBe(true);
    expect(inInterval(w, at('2026-06-06T02:00:00Z'))).toBe(false);
    // Monday.
    expect(inInterval(w, at('2026-06-08T00:30:00Z'))).toBe(false);
  });

  it('the night clocks go forward (last Sunday of March): 02:00–03:00 does not exist, the window lasts one hour', () => {
    const w = iv({ times: [{ start_time: '02:00', end_time: '04:00' }], location: 'Europe/Berlin' });
    // 2026-03-29: 01:00 UTC is 03:00 CEST (02:00–03:00 local is skipped).
    expect(inInterval(w, at('2026-03-29T00:59:00Z'))).toBe(false); // 01:59 CET
    expect(inInterval(w, at('2026-03-29T01:00:00Z'))).toBe(true); // 03:00 CEST
    expect(inInterval(w, at('2026-03-29T01:59:00Z'))).toBe(true); // 03:59 CEST
    expect(inInterval(w, at('2026-03-29T02:00:00Z'))).toBe(false); // 04:00 CEST
    expect(windowEnd([w], at('2026-03-29T01:00:00Z'))).toBe(at('2026-03-29T02:00:00Z'));
  });

  it('the night clocks go back (last Sunday of October): 02:00–03:00 happens twice, the window lasts three hours', () => {
    const w = iv({ times: [{ start_time: '02:00', end_time: '04:00' }], location: 'Europe/Berlin' });
    // 2026-10-25: 00:00 UTC is 02:00 CEST; 01:00 UTC is 02:00 CET again; 03:00 UTC is 04:00 CET.
    expect(inInterval(w, at('2026-10-24T23:59:00Z'))).toBe(false);
    expect(inInterval(w, at('2026-10-25T00:00:00Z'))).toBe(true);
    expect(inInterval(w, at('2026-10-25T01:30:00Z'))).toBe(true);
    expect(inInterval(w, at('2026-10-25T02:59:00Z'))).toBe(true);
    expect(inInterval(w, at('2026-10-25T03:00:00Z'))).toBe(false);
    expect(windowEnd([w], at('2026-10-25T00:00:00Z'))).toBe(at('2026-10-25T03:00:00Z'));
  });

  it('days of the month (negative from the end), months and years; UTC when no location', () => {
    const last = iv({ days_of_month: ['-1'] });
    expect(inInterval(last, at('2026-02-28T12:00:00Z'))).toBe(true);
    expect(inInterval(last, at('2026-02-27T12:00:00Z'))).toBe(false);
    expect(inInterval(last, at('2026-03-31T00:00:00Z'))).toBe(true);
    const firstWeek = iv({ days_of_month: ['1:7'], months: ['june:august'], years: ['2026'] });
    expect(inInterval(firstWeek, at('2026-07-03T10:00:00Z'))).toBe(true);
    expect(inInterval(firstWeek, at('2026-07-08T10:00:00Z'))).toBe(false);
    expect(inInterval(firstWeek, at('2026-09-03T10:00:00Z'))).toBe(false);
    expect(inInterval(firstWeek, at('2027-07-03T10:00:00Z'))).toBe(false);
    expect(inInterval(iv({ weekdays: ['monday:friday'] }), at('2026-06-10T10:00:00Z'))).toBe(true);
    expect(inInterval(iv({ times: [{ start_time: '22:00', end_time: '24:00' }] }), at('2026-06-10T23:59:00Z'))).toBe(true);
  });

  it.each([
    [{ weekdays: ['funday'] }, '"funday" is not a weekday or a range of them'],
    [{ times: [{ start_time: '25:00', end_time: '26:00' }] }, 'start_time "25:00" is not a time of day HH:MM from 00:00 to 23:59'],
    [{ times: [{ start_time: '23:00', end_time: '01:00' }] }, 'end_time 01:00 must come after start_time 23:00'],
    [{ location: 'Mars/Olympus' }, 'is not a time zone this system knows'],
    [{ months: ['march:january'] }, 'months: a range must go from the smaller to the larger'],
    [{ days_of_month: ['0'] }, '"0" is not a day of the month or a range'],
    [{ weekday: ['monday'] }, 'Unrecognized key'],
  ])('refuses %j', (spec, message) => {
    const r = TimeIntervalSchema.safeParse(spec);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join(' | ')).toContain(message);
  });
});

describe('the next 08:00 (💤 till 08:00)', () => {
  it('tomorrow morning in TZ, or this one before 08:00; across a DST change', async () => {
    const { nextWallClock } = await import('../../../src/domain/time-intervals.js');
    // 22:30 in Berlin (CEST) on 2026-06-05 → 08:00 CEST on the 6th = 06:00 UTC.
    expect(new Date(nextWallClock(Date.parse('2026-06-05T20:30:00Z'), 'Europe/Berlin', '08:00')).toISOString()).toBe('2026-06-06T06:00:00.000Z');
    // 06:00 in Berlin → 08:00 the same morning.
    expect(new Date(nextWallClock(Date.parse('2026-06-06T04:00:00Z'), 'Europe/Berlin', '08:00')).toISOString()).toBe('2026-06-06T06:00:00.000Z');
    // The night clocks go forward: 08:00 CEST is 06:00 UTC, not 07:00.
    expect(new Date(nextWallClock(Date.parse('2026-03-28T22:00:00Z'), 'Europe/Berlin', '08:00')).toISOString()).toBe('2026-03-29T06:00:00.000Z');
    expect(new Date(nextWallClock(Date.parse('2026-06-06T08:00:00Z'), 'UTC', '08:00')).toISOString()).toBe('2026-06-07T08:00:00.000Z');
  });
});
