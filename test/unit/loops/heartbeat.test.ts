// The dead-man's switch on a FakeClock: /start, then a success ping every interval while the loops
// pass and the chat delivers; a failure ping that says why otherwise; a watcher that cannot be
// reached is said once per outage and never stops the pings.
import { describe, expect, it } from 'vitest';
import { Heartbeat, heartbeatVerdict } from '../../../src/loops/heartbeat.js';
import type { RunnerStatus } from '../../../src/loops/runner.js';
import { FakeClock } from '../../../src/time/clock.js';
import { memoryLogger } from '../../support/helpers.js';

const T0 = Date.parse('2026-05-27T14:00:00.000Z');
/** A loop's status; `mono`: its moments on the monotonic clock (the wall-clock ones by default). */
const runner = (name: string, lastSuccessAt: number | null, intervalMs = 30_000, lastError: string | null = null, mono = { started: T0, lastSuccess: lastSuccessAt }): RunnerStatus => ({ name, passes: 1, failures: 0, consecutiveFailures: 0, lastSuccessAt, startedAt: T0, lastDurationMs: 5, lastError, lastErrorCode: null, intervalMs, mono: { ...mono, inFlightSince: null } });

describe('heartbeat', () => {
  it('the verdict: every loop within 3 intervals, the observer within 2, no message stalled over 2 min', () => {
    const now = T0 + 200_000;
    expect(heartbeatVerdict([runner('observer', now - 50_000), runner('supervisor', now - 80_000)], undefined, now)).toEqual({ ok: true });
    expect(heartbeatVerdict([runner('observer', now - 70_000, 30_000, 'EIO: i/o error')], undefined, now)).toEqual({ ok: false, reason: 'the observer loop has not completed a pass for 70 s (EIO: i/o error)' });
    expect(heartbeatVerdict([runner('executor', now - 100_000)], undefined, now)).toMatchObject({ ok: false });
    expect(heartbeatVerdict([], 121_000, now)).toEqual({ ok: false, reason: 'a Telegram message has waited 2 min to be delivered' });
    expect(heartbeatVerdict([], 100_000, now)).toEqual({ ok: true });
  });

  it('healthchecks.io: /start, then <url> or <url>/fail with the reason; said once when the watcher is down', async () => {
    const clock = new FakeClock(T0);
    const calls: { url: string; method?: string; body?: unknown }[] = [];
    let down = false;
    let healthy = true;
    const fetch = (async (url: string, init: RequestInit) => {
      calls.push({ url, method: init.method, body: init.body });
      if (down) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      return new Response('OK');
    }) as unknown as typeof globalThis.fetch;
    const mem = memoryLogger();
    const hb = new Heartbeat({ url: 'https://hc-ping.com/abc/', kind: 'healthchecks', intervalMs: 60_000, runners: () => [runner('observer', healthy ? clock.now() : T0, 30_000, null, { started: 0, lastSuccess: healthy ? clock.monotonic() : 0 })], log: mem.log, clock, fetch });
    hb.start();
    await clock.advance(0);
    expect(calls.map((c) => `${c.method} ${c.url} ${String(c.body)}`)).toEqual(['POST https://hc-ping.com/abc/start started']);
    await clock.advance(60_000);
    expect(calls.at(-1)).toMatchObject({ url: 'https://hc-ping.com/abc', body: 'OK' });
    expect(hb.status).toMatchObject({ last_status: 'up' });
    healthy = false;
    await clock.advance(60_000);
    expect(calls.at(-1)).toMatchObject({ url: 'https://hc-ping.com/abc/fail', body: 'the observer loop has not completed a pass for 120 s' });
    down = true;
    await clock.advance(60_000);
    await clock.advance(60_000);
    expect(hb.status).toMatchObject({ last_status: 'unsent', last_error: 'ECONNREFUSED' });
    expect(mem.lines.filter((l) => /cannot reach hc-ping\.com/.test(l.msg))).toHaveLength(1);
    down = false;
    healthy = true;
    await clock.advance(60_000);
    expect(hb.status.last_status).toBe('up');
    expect(mem.lines.filter((l) => /reaches its watcher again/.test(l.msg))).toHaveLength(1);
    hb.stop();
    const n = calls.length;
    await clock.advance(600_000);
    expect(calls).toHaveLength(n);
  });

  it("Uptime Kuma: the push URL's own status, msg and ping replaced", () => {
    const hb = new Heartbeat({ url: 'http://kuma.lan:3001/api/push/Tok3n?status=up&msg=OK&ping=', kind: 'kuma', intervalMs: 60_000, runners: () => [], log: memoryLogger().log, clock: new FakeClock(T0) });
    expect(hb.request('up', 'OK').url).toBe('http://kuma.lan:3001/api/push/Tok3n?status=up&msg=OK');
    expect(hb.request('fail', 'the executor loop is stuck').url).toBe('http://kuma.lan:3001/api/push/Tok3n?status=down&msg=the+executor+loop+is+stuck');
  });

  it('a step of the wall clock (NTP, a VM resume) makes no loop look stale: staleness is monotonic', () => {
    // The loop passed 10 s ago by the monotonic clock; the wall clock jumped an hour ahead.
    const r = runner('supervisor', T0, 30_000, null, { started: 0, lastSuccess: 90_000 });
    expect(heartbeatVerdict([r], undefined, 100_000)).toEqual({ ok: true });
    expect(heartbeatVerdict([r], undefined, 100_000)).toEqual({ ok: true });
    expect(heartbeatVerdict([r], undefined, 200_000)).toMatchObject({ ok: false });
  });
});
