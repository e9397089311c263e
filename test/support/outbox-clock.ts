// Moving a FakeClock under a running outbox: one timer at a time, each time first waiting until
// the outbox's worker has parked on the clock again (its file writes are real and take their own
// time, more so on a loaded machine), so that time never passes a delivery by.
import type { Outbox } from '../../src/bot/outbox.js';
import type { FakeClock } from '../../src/time/clock.js';
import { waitFor } from './helpers.js';

export async function runOutboxUntil(clock: FakeClock, outbox: Outbox, end: number): Promise<void> {
  for (;;) {
    await waitFor(() => outbox.parked, { what: 'the outbox to wait on the clock' });
    const next = clock.nextAt;
    if (next === undefined || next > end) break;
    await clock.set(next);
  }
  await clock.set(end);
}
