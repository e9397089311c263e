// /summary served from bytes built off the request path (docs/operator/http-api.md "Caching"):
// while someone reads it (a request in the last READ_WINDOW_MS), a timer looks every PUBLISH_MS
// whether what the summary shows changed (the generation) or its ages moved (the second); if so it
// gathers (on a change) or restamps (on a new second), serialises and compresses once — gzip and
// brotli on the zlib thread pool — and swaps the new bytes in; those requests take the bytes in
// place. Nobody reading, nothing is built: the first request after that builds, then the timer
// keeps the bytes current again.
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { restamp, type Summary } from '../domain/summary.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/clock.js';
import { representation, type Representation } from './representations.js';

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** How often the publisher looks for a change: the most a served /summary trails one. */
export const PUBLISH_MS = 200;
/**
 * After a build that took D ms the next waits at least this many times D: on a large fleet (a
 * build of 50 000 services takes a few hundred ms) /summary takes at most a fifth of the one thread
 * the loops share, and trails a change by up to 4 D instead (docs/operator/http-api.md "Caching").
 */
export const BUILD_DUTY_FACTOR = 4;
/** The timer keeps /summary current while a request came within this long; after, nothing is built until one comes. */
export const READ_WINDOW_MS = 30_000;

export interface SummaryPublisherDeps {
  summary: () => Promise<Summary>;
  generation: () => number;
  now: () => number;
  clock: Clock;
  log: Logger;
  periodMs?: number;
  readWindowMs?: number;
}

export class SummaryPublisher {
  private current: { rep: Representation; generation: number; second: number; summary: Summary } | undefined;
  private building: Promise<void> | undefined;
  private cancel: (() => void) | undefined;
  private stopped = false;
  private failing = false;
  /** Builds made, and of them the ones that gathered the summary anew (for tests and /metrics). */
  readonly stats = { builds: 0, gathers: 0 };

  constructor(private readonly deps: SummaryPublisherDeps) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }

  /** When /summary was last asked for (monotonic ms). */
  private readAt = Number.NEGATIVE_INFINITY;

  /**
   * The bytes in place while the timer keeps them current (someone read them lately); the first
   * request after nobody did (or the very first) waits for a build when they are not current.
   */
  async representation(): Promise<Representation> {
    const now = this.deps.clock.monotonic();
    const idle = now - this.readAt >= this.readWindowMs;
    this.readAt = now;
    if (!this.current || (idle && !this.isCurrent())) await this.build();
    return this.current!.rep;
  }

  private get readWindowMs(): number {
    return this.deps.readWindowMs ?? READ_WINDOW_MS;
  }

  /** Whether the bytes in place show the generation and the second of now. */
  private isCurrent(): boolean {
    const cur = this.current;
    return cur !== undefined && cur.generation === this.deps.generation() && cur.second === Math.floor(this.deps.now() / 1000);
  }

  /** The wait before the next look: the period, or BUILD_DUTY_FACTOR times the last build. */
  private nextDelayMs = 0;

  private schedule(): void {
    if (this.stopped) return;
    this.cancel = this.deps.clock.timer(Math.max(this.deps.periodMs ?? PUBLISH_MS, this.nextDelayMs), () => {
      this.cancel = undefined;
      void this.tick().finally(() => this.schedule());
    });
  }

  private async tick(): Promise<void> {
    // Nobody reading: nothing built (the next request builds what it needs).
    if (this.isCurrent() || this.deps.clock.monotonic() - this.readAt >= this.readWindowMs) return;
    const started = this.deps.clock.monotonic();
    try {
      await this.build();
      this.nextDelayMs = BUILD_DUTY_FACTOR * (this.deps.clock.monotonic() - started);
      if (this.failing) this.deps.log.info('building /summary works again');
      this.failing = false;
    } catch (err) {
      // Said once, not every tick, until a build works again.
      if (!this.failing) this.deps.log.warn({ err }, 'building /summary failed; serving the last one and trying again');
      this.failing = true;
    }
  }

  /** Resolves when no build is under way (one begun now included). */
  async settled(): Promise<void> {
    while (this.building) await this.building.catch(() => undefined);
  }

  /** One build at a time; a request or a tick during one waits for it. */
  private build(): Promise<void> {
    this.building ??= this.buildNow().finally(() => (this.building = undefined));
    return this.building;
  }

  private async buildNow(): Promise<void> {
    const generation = this.deps.generation();
    const now = this.deps.now();
    const cur = this.current;
    // A change gathers the summary again; a new second only restamps its ages.
    let summary: Summary;
    if (cur && cur.generation === generation) {
      summary = cur.summary;
    } else {
      summary = await this.deps.summary();
      this.stats.gathers++;
    }
    const rep = representation(JSON.stringify(restamp(summary, now)), 'application/json; charset=utf-8');
    const [gz, br] = await Promise.all([
      gzipAsync(rep.body, { level: 6 }),
      brotliAsync(rep.body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 4, [zlib.BROTLI_PARAM_SIZE_HINT]: rep.body.length } }),
    ]);
    rep.variants = { gzip: Promise.resolve(gz), br: Promise.resolve(br) };
    this.current = { rep, generation, second: Math.floor(now / 1000), summary };
    this.stats.builds++;
  }
}
