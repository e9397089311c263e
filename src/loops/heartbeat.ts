// The dead-man's switch (docs/operator/deploy.md): the one failure the chat cannot report is the
// control plane itself being down, so it pings a watcher outside it — healthchecks.io (`<url>`,
// `<url>/start`, `<url>/fail`) or an Uptime Kuma push monitor (`?status=up|down&msg=`). A success
// ping goes only when every loop has passed within its deadline, the observer within two of its
// intervals, and no message has waited more than 2 minutes for Telegram (beyond a wait Telegram
// asked for); otherwise a failure ping says why. A watcher that hears nothing raises the alarm.
// A ping that cannot be sent is logged once per outage and never blocks a loop.
import type { Logger } from '../log.js';
import type { Clock } from '../time/clock.js';
import { sincePass, type RunnerStatus } from './runner.js';

export interface HeartbeatDeps {
  url: string;
  kind: 'healthchecks' | 'kuma';
  intervalMs: number;
  runners: () => readonly RunnerStatus[];
  /** How long the oldest message has waited for Telegram (outbox.stalledForMs), if one has. */
  stalledForMs?: () => number | undefined;
  log: Logger;
  clock: Clock;
  fetch?: typeof fetch;
}

/** How long a message may wait for Telegram before the control plane counts as not working. */
const STALLED_MS = 2 * 60_000;
const PING_TIMEOUT_MS = 10_000;

/** Whether everything works now, and if not, why (the failure ping's message). */
export function heartbeatVerdict(runners: readonly RunnerStatus[], stalledMs: number | undefined, nowMono: number): { ok: true } | { ok: false; reason: string } {
  const reasons: string[] = [];
  for (const r of runners) {
    // Monotonic: a step of the wall clock makes no loop look stale.
    const ago = sincePass(r, nowMono);
    const intervals = r.name === 'observer' ? 2 : 3;
    if (ago === null || ago > intervals * r.intervalMs) reasons.push(`the ${r.name} loop has not completed a pass for ${Math.round((ago ?? 0) / 1000)} s${r.lastError ? ` (${r.lastError.slice(0, 120)})` : ''}`);
  }
  if (stalledMs !== undefined && stalledMs > STALLED_MS) reasons.push(`a Telegram message has waited ${Math.round(stalledMs / 60_000)} min to be delivered`);
  return reasons.length ? { ok: false, reason: reasons.join('; ') } : { ok: true };
}

export interface HeartbeatStatus {
  last_at: string | null;
  /** What the last ping said (`start`, `up`, `fail`), or that it could not be sent. */
  last_status: 'start' | 'up' | 'fail' | 'unsent' | null;
  last_error?: string;
}

export class Heartbeat {
  private cancel: (() => void) | undefined;
  private stopped = false;
  private failing: string | undefined;
  readonly status: HeartbeatStatus = { last_at: null, last_status: null };
  readonly stats = { sent: 0, failed_to_send: 0 };

  constructor(private readonly deps: HeartbeatDeps) {}

  /** Says the control plane started, then pings every interval until stopped. */
  start(): void {
    this.stopped = false;
    void this.ping('start', 'started');
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancel = this.deps.clock.timer(this.deps.intervalMs, () => {
      const v = heartbeatVerdict(this.deps.runners(), this.deps.stalledForMs?.(), this.deps.clock.monotonic());
      void this.ping(v.ok ? 'up' : 'fail', v.ok ? 'OK' : v.reason).finally(() => this.schedule());
    });
  }

  /** The request a status makes, in the watcher's dialect. */
  request(what: 'start' | 'up' | 'fail', message: string): { url: string; init: RequestInit } {
    const base = this.deps.url.replace(/\/+$/, '');
    if (this.deps.kind === 'kuma') {
      const u = new URL(this.deps.url);
      u.searchParams.set('status', what === 'fail' ? 'down' : 'up');
      u.searchParams.set('msg', message.slice(0, 250));
      u.searchParams.delete('ping');
      return { url: u.toString(), init: { method: 'GET' } };
    }
    return { url: what === 'up' ? base : `${base}/${what}`, init: { method: 'POST', body: message.slice(0, 10_000), headers: { 'content-type': 'text/plain; charset=utf-8' } } };
  }

  private async ping(what: 'start' | 'up' | 'fail', message: string): Promise<void> {
    const { url, init } = this.request(what, message);
    const at = new Date(this.deps.clock.now()).toISOString();
    try {
      const res = await (this.deps.fetch ?? globalThis.fetch)(url, { ...init, signal: AbortSignal.timeout(PING_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`answered HTTP ${res.status}`);
      await res.arrayBuffer().catch(() => undefined);
      this.stats.sent++;
      Object.assign(this.status, { last_at: at, last_status: what, last_error: undefined });
      if (this.failing) this.deps.log.info({ was: this.failing }, 'the heartbeat reaches its watcher again');
      this.failing = undefined;
      if (what === 'fail') this.deps.log.warn({ reason: message }, 'heartbeat: told the watcher the control plane is not working');
    } catch (err) {
      const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      this.stats.failed_to_send++;
      Object.assign(this.status, { last_at: at, last_status: 'unsent', last_error: why });
      // Once per outage: a watcher that is down must not fill the log.
      if (this.failing === undefined) this.deps.log.warn({ error: why }, `heartbeat: cannot reach ${new URL(this.deps.url).host} (${why}); trying again every interval, said once`);
      this.failing = why;
    }
  }
}
