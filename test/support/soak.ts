// The reliability suite runs twice: its fast part inside `npm test`, and at full size under
// `npm run soak` (SOAK=1), which collects each test's figures into one JSON report.
import { appendFileSync } from 'node:fs';

export const SOAK = process.env.SOAK === '1';

/** `fast` inside npm test, `soak` under npm run soak. */
export function scale(fast: number, soak: number): number {
  return SOAK ? soak : fast;
}

/** Prints a test's figures, and adds them to the soak report when one is being written. */
export function report(section: string, figures: Record<string, unknown>): void {
  console.log(`[reliability] ${section}: ${JSON.stringify(figures)}`);
  const file = process.env.SOAK_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify({ section, ...figures })}\n`);
}

/** A small seeded generator, so a failing run can be replayed (the seed is in the report). */
export function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
