// Two listings in one order compared object by object from both ends (the open actions' index,
// plan-context.ts, and the notifier's table, bot/open-table.ts): what changed between them lies
// between the part they share at their start and the part they share at their end.

/** How many items `prev` and `next` share at their start, and how many after that at their end. */
export function sharedEnds<T>(prev: readonly T[], next: readonly T[]): { start: number; end: number } {
  const m = Math.min(prev.length, next.length);
  let start = 0;
  while (start < m && prev[start] === next[start]) start++;
  let end = 0;
  while (end < m - start && prev[prev.length - 1 - end] === next[next.length - 1 - end]) end++;
  return { start, end };
}
