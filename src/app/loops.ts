// The four loops and the signals between them (ARCHITECTURE.md "Signals").
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/clock.js';
import { Runner } from '../loops/runner.js';
import type { Bus } from './bus.js';
import { reportDesiredProblems, type Parts } from './parts.js';

export type LoopName = 'observer' | 'desired' | 'supervisor' | 'executor';

/** The four loops, and who kicks whom (every loop also runs on its interval). */
/** `leading`: whether this process acts (with NATS, only the leader's supervisor and executor do). */
export function buildLoops(config: Config, p: Parts, bus: Bus, log: Logger, clock: Clock, leading: () => boolean = () => true): Record<LoopName, Runner> {
  const interval = config.reconcileIntervalS * 1000;
  // With NATS, the update checks and skips as the leader wrote them (a standby's page shows them);
  // while NATS cannot be asked, the last ones read stand (said once, not at every pass).
  let updatesUnread = false;
  const refreshUpdates = () =>
    p.updates.refresh().then(
      () => {
        if (updatesUnread) log.info('update checks read from NATS KV again');
        updatesUnread = false;
      },
      (err: unknown) => {
        if (!updatesUnread) log.warn({ err }, 'cannot read the update checks from NATS KV; planning with the last ones read');
        updatesUnread = true;
      },
    );
  const loops: Record<LoopName, Runner> = {
    observer: new Runner('observer', interval, async () => void (await p.observer.pass()), log, clock),
    desired: new Runner('desired', interval, async () => {
      const r = await p.desired.reload();
      if (!r.changed) return;
      reportDesiredProblems(log, r.problems, p.desired.current());
      bus.emit('desiredChanged');
    }, log, clock),
    supervisor: new Runner('supervisor', interval, async () => {
      await refreshUpdates();
      if (!leading()) return;
      const r = await p.supervisor.pass();
      // Planned on reads an outcome overtook: once more, with it.
      if (r.deferred.length) loops.supervisor.kick();
      if (r.cancelled.length || r.notices.opened.length || r.notices.closed.length || r.notices.updated.length) bus.emit('actionsChanged');
    }, log, clock, () => (leading() ? p.supervisor.nextDue : Infinity)),
    executor: new Runner('executor', interval, async () => void (leading() && (await p.executor.pass())), log, clock),
  };
  // Whoever adopts a file moved by hand into approved/ (supervisor, executor, watcher), the
  // executor hears of it at once.
  p.actions.onAdopted((a) => {
    bus.emit('actionsChanged');
    if (a.state === 'approved') bus.emit('approvedByHand');
  });
  p.observer.onPublish(() => bus.emit('worldPublished'));
  bus.on('worldPublished', () => {
    loops.supervisor.kick();
    if (leading()) void p.executor.checkVerifications().catch((err) => log.error({ err }, 'verification check failed'));
  });
  bus.on('desiredChanged', () => {
    p.observer.invalidate();
    loops.observer.kick();
    loops.supervisor.kick();
  });
  bus.on('approvedByHand', () => loops.executor.kick());
  bus.on('updatesChanged', () => {
    loops.supervisor.kick();
    bus.emit('actionsChanged');
  });
  bus.on('eventsWritten', () => loops.observer.hint());
  bus.on('hostsTouched', () => loops.desired.hint());
  bus.on('actionFileAdded', (state) => {
    loops.supervisor.hint();
    if (state === 'approved') loops.executor.hint();
  });
  return loops;
}
