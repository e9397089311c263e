// The update checker (docs/design/updates.md): for every watched service whose `updates:` is not
// `off`, the image its containers run is compared with what its tag names in the registry now.
// Read-only on the engines and the registries; the result goes to world/updates.json, never into
// events (a check must not look like a sign of life from the node's agent).
import type Docker from 'dockerode';
import { parseImageRef, repoDigestFor, type ImageRef } from '../domain/image-ref.js';
import type { DesiredNode, DesiredService, DesiredState } from '../domain/schemas.js';
import { EngineClients, explainDockerError, type DockerTarget, type EngineOptions } from '../docker/engine.js';
import { RegistryError, type RegistryClient } from '../docker/registry.js';
import { DeadlineError, engineDeadline } from '../errors.js';
import type { Logger } from '../log.js';
import type { ImageCheck, UpdateEntry, UpdatesStore } from '../store/updates.js';
import { realClock, withDeadline, type Clock } from '../time/clock.js';

/** How long the engine reads of one service may take. */
const SERVICE_DEADLINE_MS = 30_000;
/** Nodes checked at once (each node's services one after another). */
const NODES_AT_ONCE = 4;

export interface UpdateCheckerDeps {
  desired: () => DesiredState;
  store: UpdatesStore;
  registry: RegistryClient;
  engineOptions: EngineOptions;
  /** For tests: how a node's engine is reached. */
  engine?: (target: DockerTarget) => Docker;
  /** The engine clients shared with the executor and the inspector (default: its own). */
  engines?: EngineClients;
  log: Logger;
  clock?: Clock;
  /** UPDATE_CHECK_INTERVAL_H in ms. */
  intervalMs: number;
  /** Told after each check that wrote results. */
  onChecked?: (entries: readonly UpdateEntry[]) => void;
  /** Jitter source in [0, 1) (tests pin it). */
  random?: () => number;
}

/** Services a check covers: watched, `updates:` not off, and matching `target` (node or node/service). */
export function servicesToCheck(desired: DesiredState, target?: string): { dn: DesiredNode; s: DesiredService }[] {
  const [node, service] = target ? target.split('/') : [];
  const out: { dn: DesiredNode; s: DesiredService }[] = [];
  for (const dn of Object.values(desired)) {
    if (node && dn.node !== node) continue;
    for (const s of Object.values(dn.services)) {
      if (service && s.service !== service) continue;
      if (s.monitor && s.updates !== 'off') out.push({ dn, s });
    }
  }
  return out;
}

export class UpdateChecker {
  private readonly clock: Clock;
  private cancelTimer: (() => void) | undefined;
  private running: Promise<UpdateEntry[]> | undefined;
  private stopped = false;

  private readonly clients: EngineClients;

  constructor(private readonly deps: UpdateCheckerDeps) {
    this.clock = deps.clock ?? realClock;
    this.clients = deps.engines ?? new EngineClients(deps.engineOptions, deps.engine);
  }

  /**
   * Schedules the checks: the first soon after start when the last one is older than the interval
   * (30–90 s, so a restart loop does not hammer registries), then every interval ± 10 %.
   */
  start(lastCheckedAt: number | undefined): void {
    const now = this.clock.now();
    const due = lastCheckedAt === undefined ? now : lastCheckedAt + this.deps.intervalMs;
    const soon = 30_000 + this.rand() * 60_000;
    this.schedule(Math.max(soon, due - now));
  }

  private rand(): number {
    return (this.deps.random ?? Math.random)();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancelTimer?.();
    this.cancelTimer = this.clock.timer(ms, () => {
      void this.check()
        .catch((err) => this.deps.log.error({ err }, 'update check failed'))
        .finally(() => this.schedule(this.deps.intervalMs * (0.9 + this.rand() * 0.2)));
    });
  }

  /** Stops the timer; a check under way gets `budgetMs` and its result is still written. */
  async stop(budgetMs = 1000): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    if (this.running) await Promise.race([this.running.catch(() => {}), this.clock.sleep(budgetMs)]);
  }

  /** Checks now (all services, a node, or one `node/service`); one check at a time. */
  async check(target?: string): Promise<UpdateEntry[]> {
    while (this.running) await this.running.catch(() => {});
    const run = this.checkNow(target);
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = undefined;
    }
  }

  private async checkNow(target?: string): Promise<UpdateEntry[]> {
    const desired = this.deps.desired();
    const todo = servicesToCheck(desired, target);
    const byNode = new Map<string, { dn: DesiredNode; s: DesiredService }[]>();
    for (const t of todo) byNode.set(t.dn.node, [...(byNode.get(t.dn.node) ?? []), t]);
    const entries: UpdateEntry[] = [];
    const queue = [...byNode.values()];
    const worker = async () => {
      for (let list = queue.shift(); list; list = queue.shift()) {
        for (const { dn, s } of list) entries.push(await this.checkService(dn, s));
      }
    };
    await Promise.all(Array.from({ length: Math.min(NODES_AT_ONCE, queue.length) }, worker));
    if (entries.length) await this.deps.store.save(entries);
    if (!target) await this.deps.store.keepOnly(new Set(servicesToCheck(desired).map(({ dn, s }) => `${dn.node}/${s.service}`)));
    if (entries.length === 0) {
      this.deps.log.debug('update check: no watched service has updates: notify, approve or auto');
      return entries;
    }
    const available = entries.filter((e) => e.images.some((i) => i.status === 'image_update_available'));
    const failed = entries.filter((e) => e.error || e.images.some((i) => i.status === 'error'));
    this.deps.log.info({ checked: entries.length, available: available.length, errors: failed.length }, `update check: ${entries.length} services, ${available.length} with a newer image, ${failed.length} with problems`);
    this.deps.onChecked?.(entries);
    return entries;
  }

  private engine(target: DockerTarget): Docker {
    return this.clients.get(target);
  }

  /** One service: its containers' images, their local digests, and what the registry says now. */
  async checkService(dn: DesiredNode, s: DesiredService): Promise<UpdateEntry> {
    const checkedAt = () => new Date(this.clock.now()).toISOString();
    const base = { node: dn.node, service: s.service };
    let images: { image: string; containers: string[]; imageId: string; info?: Docker.ImageInspectInfo }[];
    try {
      images = await withDeadline(this.clock, SERVICE_DEADLINE_MS, this.readEngine(this.engine(dn.docker), s.containers), () => engineDeadline(dn.node, SERVICE_DEADLINE_MS));
    } catch (err) {
      const error = err instanceof DeadlineError || err instanceof CheckError ? err.message : explainDockerError(err, dn.docker, dn.node);
      this.deps.log.warn({ node: dn.node, service: s.service, error }, `update check of ${dn.node}/${s.service}: ${error}`);
      return { ...base, checked_at: checkedAt(), images: [], error };
    }
    const previous = this.deps.store.updates()[`${dn.node}/${s.service}`];
    const out: ImageCheck[] = [];
    for (const img of images) out.push(await this.checkImage(img, previous?.images.find((p) => p.image === img.image)));
    for (const c of out) if (c.error) this.deps.log.warn({ node: dn.node, service: s.service, image: c.image, error: c.error }, `update check of ${dn.node}/${s.service}: ${c.error}`);
    return { ...base, checked_at: checkedAt(), images: out };
  }

  private async readEngine(docker: Docker, containers: readonly string[]) {
    const byImage = new Map<string, { image: string; containers: string[]; imageId: string; info?: Docker.ImageInspectInfo }>();
    for (const name of containers) {
      const info = await docker
        .getContainer(name)
        .inspect()
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode === 404) return undefined;
          throw err;
        });
      if (!info || info.Name !== `/${name}`) throw new CheckError(`container ${name} not found: nothing to compare`);
      const image = info.Config.Image;
      const entry = byImage.get(image) ?? { image, containers: [], imageId: info.Image };
      entry.containers.push(name);
      byImage.set(image, entry);
    }
    for (const entry of byImage.values()) {
      entry.info = await docker
        .getImage(entry.imageId)
        .inspect()
        .catch(() => undefined);
    }
    return [...byImage.values()];
  }

  private async checkImage(img: { image: string; containers: string[]; imageId: string; info?: Docker.ImageInspectInfo }, previous: ImageCheck | undefined): Promise<ImageCheck> {
    const base = { image: img.image, containers: img.containers, image_id: img.imageId };
    const fail = (error: string, extra: Partial<ImageCheck> = {}): ImageCheck => ({ ...base, local_digest: null, remote_digest: null, status: 'error', error, ...extra });
    if (/^(sha256:)?[0-9a-f]{64}$/.test(img.image)) return fail(`runs image ${img.image.slice(0, 19)} by id: no tag to compare with`);
    let ref: ImageRef;
    try {
      ref = parseImageRef(img.image);
    } catch (err) {
      return fail(`${JSON.stringify(img.image)} is not an image reference: ${(err as Error).message}`);
    }
    const tag = ref.tag ?? 'latest';
    const named = { repository: ref.name, tag };
    if (ref.digest) return { ...base, ...named, local_digest: ref.digest, remote_digest: null, status: 'pinned' };
    const local = repoDigestFor(ref, img.info?.RepoDigests);
    if (!local) return fail(`the image of ${img.image} has no digest from ${ref.domain}: built or loaded on the node, not pulled, so there is nothing to compare`, named);
    const platform = img.info ? { ...(img.info.Os ? { os: img.info.Os } : {}), ...(img.info.Architecture ? { architecture: img.info.Architecture } : {}), ...((img.info as { Variant?: string }).Variant ? { variant: (img.info as { Variant?: string }).Variant } : {}) } : undefined;
    let remote: string;
    try {
      remote = (await this.deps.registry.tagDigest(ref, tag)).digest;
    } catch (err) {
      if (err instanceof RegistryError) return fail(err.message, { ...named, local_digest: local });
      throw err;
    }
    const result: ImageCheck = { ...base, ...named, local_digest: local, remote_digest: remote, status: remote === local ? 'up_to_date' : 'image_update_available', ...(platform ? { platform } : {}) };
    if (result.status === 'image_update_available') {
      // The new image's age and labels: three GETs, once per new digest (the last check's kept).
      if (previous?.remote_digest === remote && (previous.created || previous.version || previous.source)) {
        Object.assign(result, pick(previous));
      } else {
        const details = await this.deps.registry.details(ref, remote, platform).catch((err: Error) => {
          this.deps.log.debug({ image: img.image, err: err.message }, 'no details of the new image');
          return {};
        });
        Object.assign(result, details);
      }
    }
    return result;
  }

}

class CheckError extends Error {}

function pick(p: ImageCheck): Partial<ImageCheck> {
  return { ...(p.created ? { created: p.created } : {}), ...(p.version ? { version: p.version } : {}), ...(p.source ? { source: p.source } : {}) };
}
