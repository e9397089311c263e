// Operations a stop or a kill interrupted (docs/design/executor.md): the redeploys and image
// updates whose containers may be left parked, and the restarts whose containers may be left
// stopped. Remembered in state/interrupted-redeploys.json, or in NATS KV (store/interrupted.ts), until the next
// start has put their containers right, one node at a time and before any new operation there.
import type Docker from 'dockerode';
import type { Action } from '../domain/actions.js';
import type { DesiredState } from '../domain/schemas.js';
import { explainDockerError, type DockerTarget } from '../docker/engine.js';
import { recoverParked, startIfStopped, type OpContext } from '../docker/ops.js';
import type { Logger } from '../log.js';
import type { ActionBackend } from '../store/action-backend.js';
import { InterruptedFile, type Interrupted } from '../store/interrupted.js';
import type { DocStore } from '../store/doc-store.js';

export interface InterruptedDeps {
  actions: ActionBackend;
  desired: () => DesiredState;
  log: Logger;
  now: () => number;
  actionTimeoutS: number;
  /** The file (state/interrupted-redeploys.json); without it, only in memory. */
  interruptedFile?: string;
  /** With NATS_URL: the record in HOMELAB_STATE instead of the file, shared with a new leader. */
  interruptedDocs?: DocStore;
  onChange?: (a: Action) => void;
}

export class InterruptedOps {
  private items: Interrupted[] = [];
  /** Restarts under way, with the containers that ran before them (see Interrupted.restart). */
  private restarts = new Map<string, Interrupted>();
  private readonly file: InterruptedFile;

  constructor(
    private readonly deps: InterruptedDeps,
    private readonly engine: (target: DockerTarget) => Docker,
  ) {
    this.file = new InterruptedFile(deps.interruptedFile, deps.log, deps.interruptedDocs);
  }

  async load(): Promise<void> {
    this.items = await this.file.load();
  }

  /** An interrupted redeploy or image update: its containers are checked at the next start. */
  remember(a: Action): void {
    if (a.type === 'redeploy' || a.type === 'image_update') this.items.push({ id: a.id, instance: a.instance, node: a.node, containers: this.containersOf(a) });
  }

  /**
   * After a start marked what it found in running/ failed: a restart entry counts only for a
   * restart that was interrupted (a kill left it behind). Saves when anything changed.
   */
  async settle(changed: boolean): Promise<void> {
    const before = this.items.length;
    const kept: Interrupted[] = [];
    for (const item of this.items) {
      if (!item.restart) kept.push(item);
      else if ((await this.deps.actions.find(item.id, item.instance))?.error?.startsWith('interrupted')) kept.push(item);
    }
    this.items = kept;
    if (changed || kept.length !== before) await this.save();
  }

  save(): Promise<void> {
    return this.file.save([...this.items, ...this.restarts.values()]);
  }

  /** A restart of `names` begins: they are started again should it be interrupted. */
  async restartBegins(key: string, a: Action, names: string[]): Promise<void> {
    this.restarts.set(key, { id: a.id, instance: a.instance, node: a.node, containers: names, restart: true });
    await this.save();
  }

  /** The action `key` ended: its restart record, if any, is dropped. */
  async ended(key: string): Promise<void> {
    if (this.restarts.delete(key)) await this.save().catch((err) => this.deps.log.warn({ err }, 'cannot update the record of restarts under way'));
  }

  /** The action `key` was interrupted at a stop: remembered, with its restart if it was one. */
  interruptedAtStop(key: string, a: Action): void {
    this.remember(a);
    const restart = this.restarts.get(key);
    if (restart) {
      this.restarts.delete(key);
      this.items.push(restart);
    }
  }

  /**
   * Puts right the containers of operations that were interrupted, on each node that is free
   * (`busy` holds the nodes with an operation under way; a recovery takes its node while it runs):
   * an old container left parked is put back or removed (recoverParked), a stopped one started.
   * The failed action records what was done. An unreachable engine is tried again next pass.
   */
  recover(busy: Map<string, Promise<void>>): void {
    for (const item of [...this.items]) {
      if (busy.has(item.node)) continue;
      const run = this.recoverOne(item)
        .catch((err) => this.deps.log.error({ err, id: item.id }, `recovering ${item.id} failed unexpectedly`))
        .finally(() => busy.delete(item.node));
      busy.set(item.node, run);
    }
  }

  private async recoverOne(item: Interrupted): Promise<void> {
    const node = this.deps.desired()[item.node];
    const ctx: OpContext = { docker: this.engine(node?.docker ?? {}), deadline: this.deps.now() + this.deps.actionTimeoutS * 1000, now: this.deps.now };
    let notes: string[];
    try {
      notes = !node ? [] : item.restart ? await startIfStopped(ctx, item.containers) : await recoverParked(ctx, item.containers);
    } catch (err) {
      this.deps.log.warn({ id: item.id, error: explainDockerError(err, node!.docker, item.node) }, `cannot check ${item.id}'s containers yet; trying again`);
      return;
    }
    this.items = this.items.filter((x) => x !== item);
    await this.save();
    const failed = await this.deps.actions.find(item.id, item.instance);
    if (failed && failed.state === 'failed') {
      const recovery = { at: new Date(this.deps.now()).toISOString(), done: notes.length ? notes : [item.restart ? 'nothing to start: no container ran before the restart' : 'nothing to put right: no old container was left parked'] };
      const updated = await this.deps.actions.annotate('failed', failed, { recovery });
      if (updated) this.deps.onChange?.(updated);
    }
    for (const line of notes) this.deps.log.warn({ id: item.id, node: item.node }, `after the interrupted ${item.id}: ${line}`);
  }

  /** The containers services.yaml names for an action's service now (nothing when it names none). */
  private containersOf(a: Action): string[] {
    return (a.service ? this.deps.desired()[a.node]?.services[a.service]?.containers : undefined) ?? [];
  }
}
