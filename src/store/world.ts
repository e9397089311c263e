// The world files: written by the observer (writeWorldStep, with its checkpoint), and read back
// as the web page and /ai-context show them. They are checked
// against the world schema (domain/schemas.ts): a file that fails it — hand-edited, mirrored from
// an older version — is logged once per problem and shown as it is, escaped by the page;
// a file that is not JSON is logged once and shown as empty.
import type { z } from 'zod';
import { WorldNodesFile, WorldServicesFile, type WorldNode, type WorldService } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import { readRegularFile, writeFileAtomic } from './atomic.js';
import type { Layout } from './paths.js';
import { sameText, type Chunks } from './grouped-json.js';

export class WorldFiles {
  /** Per file, the problem last logged (the same one again is not). */
  private readonly logged = new Map<string, string>();
  /** Per file, the last text read and what it gave: an unchanged file is not checked again. */
  private readonly last = new Map<string, { text: string; value: unknown }>();

  constructor(
    private readonly l: Layout,
    private readonly log: Logger,
  ) {}

  async read(): Promise<{ services: Record<string, WorldService>; nodes: Record<string, WorldNode> }> {
    return { services: await this.readOne(this.l.worldServices, WorldServicesFile), nodes: await this.readOne(this.l.worldNodes, WorldNodesFile) };
  }

  private async readOne<S extends z.ZodType<Record<string, unknown>>>(file: string, schema: S): Promise<z.infer<S>> {
    const text = ((await readRegularFile(file)) ?? Buffer.from('{}')).toString('utf8');
    const last = this.last.get(file);
    if (last?.text === text) return last.value as z.infer<S>;
    const value = this.check(file, text, schema);
    this.last.set(file, { text, value });
    return value;
  }

  private check<S extends z.ZodType<Record<string, unknown>>>(file: string, text: string, schema: S): z.infer<S> {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.problem(file, `is not JSON (${(err as Error).message}); shown as empty`);
      return {} as z.infer<S>;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.problem(file, 'is not a JSON object; shown as empty');
      return {} as z.infer<S>;
    }
    const checked = schema.safeParse(value);
    if (checked.success) {
      this.logged.delete(file);
      return checked.data;
    }
    const issue = checked.error.issues[0];
    this.problem(file, `does not match the world schema (${issue?.path.join('.') || 'top'}: ${issue?.message}); shown as it is`);
    return value as z.infer<S>;
  }

  private problem(file: string, what: string): void {
    if (this.logged.get(file) === what) return;
    this.logged.set(file, what);
    this.log.warn({ file }, `world file ${file} ${what}`);
  }
}

/** What one publish of the observer writes: the world files (serialised) and the checkpoint. */
export interface WorldStep {
  services?: Chunks;
  nodes?: Chunks;
  checkpoint?: Chunks;
}

/** What is in the world files now: the text last written (or read at the start). */
export interface WorldWritten {
  services: Chunks | string;
  nodes: Chunks | string;
}

/**
 * Writes one step, each file atomically, in the order that keeps readers and a restart right:
 * nodes.json first (a reader that sees the new services.json finds the nodes it speaks of), then
 * services.json, each only when it differs from `written` (updated as each lands), then the
 * checkpoint — so the world files are never behind it. Returns whether the checkpoint was written.
 */
export async function writeWorldStep(l: Layout, step: WorldStep, written: WorldWritten): Promise<boolean> {
  if (step.nodes !== undefined && !sameText(step.nodes, written.nodes)) {
    await writeFileAtomic(l.worldNodes, step.nodes);
    written.nodes = step.nodes;
  }
  if (step.services !== undefined && !sameText(step.services, written.services)) {
    await writeFileAtomic(l.worldServices, step.services);
    written.services = step.services;
  }
  if (step.checkpoint === undefined) return false;
  await writeFileAtomic(l.checkpoint, step.checkpoint);
  return true;
}
