// Durations as people type them (silences, settings): `90s`, `30m`, `2h`, `1d`, `1h30m`.

/** `90s`, `30m`, `2h`, `1d`, `1h30m` → milliseconds. */
export function parseDuration(text: string): number {
  const re = /(\d+)\s*(s|m|h|d|w)/gy;
  const unit: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  let total = 0;
  let matched = 0;
  const t = text.trim();
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t))) {
    total += Number(m[1]) * unit[m[2]!]!;
    matched = re.lastIndex;
  }
  if (matched !== t.length || total <= 0) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 30m, 2h, 1d, 1h30m)`);
  if (total > 365 * 86_400_000) throw new Error('at most a year (365d)');
  return total;
}
