// One lifecycle for the control plane's components: started in order, stopped in reverse, on the
// same path whether a start failed half-way or a signal arrived. A stop first aborts the signal
// every component was started with (the executor stops taking actions at once), then stops each
// component within its own budget, whatever hangs.
import type { Logger } from '../log.js';
import { realClock, type Clock } from '../time/clock.js';

export interface Component {
  readonly name: string;
  start(signal: AbortSignal): Promise<void> | void;
  stop(): Promise<void> | void;
  /** How long its stop may take before the lifecycle moves on (default 2 s). */
  readonly stopBudgetMs?: number;
}

export class Lifecycle {
  private readonly started: Component[] = [];
  private readonly abort = new AbortController();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {}

  /** Starts each component in order; if one fails, stops those already started and rethrows. */
  async start(components: readonly Component[]): Promise<void> {
    for (const c of components) {
      try {
        await c.start(this.abort.signal);
      } catch (err) {
        this.log.debug({ component: c.name }, 'start failed; stopping what started');
        await this.stop();
        throw err;
      }
      this.started.push(c);
    }
  }

  /** Aborts the start signal, then stops every started component in reverse order, each bounded. */
  async stop(): Promise<void> {
    this.abort.abort();
    while (this.started.length > 0) {
      const c = this.started.pop()!;
      const giveUp = new AbortController();
      const timedOut = await Promise.race([
        Promise.resolve()
          .then(() => c.stop())
          .then(
            () => false,
            (err: unknown) => {
              this.log.warn({ err, component: c.name }, `stopping ${c.name} failed`);
              return false;
            },
          ),
        this.clock.sleep(c.stopBudgetMs ?? 2000, giveUp.signal).then(() => true),
      ]);
      giveUp.abort();
      if (timedOut) this.log.warn({ component: c.name }, `${c.name} did not stop within ${c.stopBudgetMs ?? 2000} ms; going on`);
    }
  }
}
