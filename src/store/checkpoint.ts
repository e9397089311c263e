// state/observer_checkpoint.json: the observer's read positions and the model they produced
// (docs/design/observer.md), written after the world files in the same step and read back through
// its schema — a checkpoint that is unreadable, missing or not this version's means a replay of
// every event, said in one line.
import { z } from 'zod';
import { NodeStateSchema, ServiceStateSchema } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import { readChecked } from './atomic.js';
import { compactWith, type Chunks } from './grouped-json.js';
import type { FilePos } from './events.js';

export const CHECKPOINT_VERSION = 1;

export const FilePosSchema = z.object({
  ino: z.number(),
  offset: z.number().int().nonnegative(),
  line: z.number().int().nonnegative(),
  skip: z.boolean(),
  head: z.string(),
});
/** node → day → where reading stopped. */
export const PositionsSchema = z.record(z.string(), z.record(z.string(), FilePosSchema));
/** The observer's model (domain/observe.ts) as the checkpoint and the events snapshot keep it. */
export const ModelSchema = z.object({
  services: z.record(z.string(), ServiceStateSchema),
  nodes: z.record(z.string(), NodeStateSchema),
  seq: z.record(z.string(), z.number()),
  seq_seen: z.record(z.string(), z.string()).optional(),
  first_reasons: z.record(z.string(), z.string().nullable()).optional(),
  counters: z.object({
    applied: z.number(),
    malformed: z.number(),
    oversized: z.number(),
    duplicate: z.number(),
    unknown: z.number(),
  }),
  malformed_by_node: z.record(z.string(), z.number()),
});
const CheckpointSchema = z.object({
  version: z.literal(CHECKPOINT_VERSION),
  fingerprint: z.string(),
  positions: PositionsSchema,
  model: ModelSchema,
});
type Checkpoint = z.infer<typeof CheckpointSchema>;
export type { Checkpoint };

export async function readCheckpoint(file: string, log: Logger): Promise<Checkpoint | undefined> {
  const r = await readChecked(file, CheckpointSchema);
  if (r.ok) return r.value;
  if (r.why === 'unreadable') log.warn({ err: r.err, file }, 'observer checkpoint unreadable; replaying all events');
  else if (r.why === 'none') log.info('no observer checkpoint; replaying all events');
  else log.warn({ file, problem: r.problem }, 'observer checkpoint invalid; replaying all events');
  return undefined;
}

/**
 * The checkpoint's text for these positions and this model (serialised now: the model moves on);
 * `servicesText`, when given, is the model's services already serialised (grouped-json.ts).
 */
export function checkpointText(fingerprint: string, positions: Record<string, Record<string, FilePos>>, model: Checkpoint['model'], servicesText?: string): string {
  const checkpoint = { version: CHECKPOINT_VERSION, fingerprint, positions, model } satisfies Checkpoint;
  if (servicesText === undefined) return JSON.stringify(checkpoint);
  return compactWith({ ...checkpoint, model: null }, 'model', compactWith(model, 'services', servicesText));
}

/**
 * checkpointText's bytes in parts, with the large members already made in parts (per node:
 * grouped-json.ts): `positions`, and `model`'s members named in `modelParts`. The rest (the
 * version, the counters, the sequence numbers) is serialised here.
 */
export function checkpointChunks(fingerprint: string, positions: Chunks, model: Checkpoint['model'], modelParts: Readonly<Record<string, Chunks>>): Uint8Array[] {
  const out: Uint8Array[] = [Buffer.from(`{"version":${CHECKPOINT_VERSION},"fingerprint":${JSON.stringify(fingerprint)},"positions":`, 'utf8'), ...positions];
  let text = ',"model":{';
  let first = true;
  for (const key of Object.keys(model)) {
    const made = modelParts[key];
    const value = made ? undefined : JSON.stringify((model as Record<string, unknown>)[key]);
    if (!made && value === undefined) continue;
    text += `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (made) {
      out.push(Buffer.from(text, 'utf8'), ...made);
      text = '';
    } else text += value;
  }
  out.push(Buffer.from(`${text}}}`, 'utf8'));
  return out;
}
