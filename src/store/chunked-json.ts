// The world files and the checkpoint serialised a slice at a time (docs/design/observer.md): at
// 50 000 services one JSON.stringify takes a tenth of a second of the thread every loop shares;
// in slices, with the event loop free between them, a pass's supervisor runs meanwhile. The text
// is the same as in one piece: `stableJson` for the world files (tested).
import type { FilePos } from './events.js';
import { CHECKPOINT_VERSION, type Checkpoint } from './checkpoint.js';
import { nextTurn } from '../time/clock.js';

/** Entries serialised between two turns of the event loop. */
const SLICE = 2000;


/** Milliseconds of this thread the slices took (not the waits between them). */
export interface Spent {
  ms: number;
}

/** `stableJson(record)` (JSON, two-space indent, a final newline) of a record of entries, in slices. */
export async function stableJsonSliced(record: Readonly<Record<string, unknown>>, spent: Spent): Promise<string> {
  const keys = Object.keys(record);
  if (keys.length === 0) return '{}\n';
  const parts: string[] = [];
  for (let i = 0; i < keys.length; i += SLICE) {
    const t = performance.now();
    const slice: string[] = [];
    for (const k of keys.slice(i, i + SLICE)) slice.push(`  ${JSON.stringify(k)}: ${JSON.stringify(record[k], null, 2).replace(/\n/g, '\n  ')}`);
    parts.push(slice.join(',\n'));
    spent.ms += performance.now() - t;
    if (i + SLICE < keys.length) await nextTurn();
  }
  return `{\n${parts.join(',\n')}\n}\n`;
}

/** The checkpoint's text (what checkpointText gives, its services in slices). */
export async function checkpointTextSliced(fingerprint: string, positions: Record<string, Record<string, FilePos>>, model: Checkpoint['model'], spent: Spent): Promise<string> {
  const { services, ...rest } = model;
  const keys = Object.keys(services);
  const parts: string[] = [];
  for (let i = 0; i < keys.length; i += SLICE) {
    const t = performance.now();
    parts.push(keys.slice(i, i + SLICE).map((k) => `${JSON.stringify(k)}:${JSON.stringify(services[k])}`).join(','));
    spent.ms += performance.now() - t;
    if (i + SLICE < keys.length) await nextTurn();
  }
  const t = performance.now();
  const head = JSON.stringify({ version: CHECKPOINT_VERSION, fingerprint, positions });
  const tail = JSON.stringify(rest);
  spent.ms += performance.now() - t;
  // {"version":…,"positions":…,"model":{"services":{…},<the rest of the model>}}
  return `${head.slice(0, -1)},"model":{"services":{${parts.join(',')}}${tail === '{}' ? '' : `,${tail.slice(1, -1)}`}}}`;
}
