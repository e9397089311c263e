// Healing in order (docs/design/executor.md, chains): after a root's operation, each dependent its
// action names, dependencies first. A dependent in the root's network namespace is restarted (it
// would stay in the old, dead one otherwise), or recreated into the root's new namespace when the
// container it names is gone (the root was recreated); one the engine shows stopped or unhealthy
// is restarted; a healthy one outside the namespace is left as it is; one that also needs a
// service that is not running is left for that service's own action. A failed step stops the
// chain, and the error says what was done and what was not.
import type Docker from 'dockerode';
import type { Action, ChainStep } from '../domain/actions.js';
import { inspectNamed, recreateContainer, restartContainers, type OpContext } from '../docker/ops.js';
import { OperationError } from '../errors.js';

export interface ChainOutcome {
  service: string;
  outcome: 'restarted' | 'recreated' | 'left';
  note: string;
}

/** `container:<x>` → x, or undefined for any other network mode. */
function namespaceOf(info: Docker.ContainerInspectInfo): string | undefined {
  const m = /^container:(.+)$/.exec(info.HostConfig.NetworkMode ?? '');
  return m?.[1];
}

/** Whether the namespace reference `ns` (a name or an id, maybe short) is the container `name`/`id` or one of `oldIds`. */
function refersTo(ns: string, name: string, id: string, oldIds: readonly string[]): boolean {
  const sameId = (x: string) => x.length >= 12 && ns.length >= 12 && (x.startsWith(ns) || ns.startsWith(x));
  return ns === name || sameId(id) || oldIds.some(sameId);
}

/** The container `ref` (a name or an id) names, or undefined when there is none. */
async function find(ctx: OpContext, ref: string): Promise<Docker.ContainerInspectInfo | undefined> {
  return ctx.docker
    .getContainer(ref)
    .inspect()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
}

/**
 * Heals the dependents of `a` after its root's operation. `rootContainers` are the names of the
 * root's containers; ids they had before the operation are in `oldIds` (a recreate changes them).
 */
export async function healChain(a: Action, ctx: OpContext, deps: { rootContainers: readonly string[]; oldIds: readonly string[]; containersOf: (service: string) => readonly string[] }): Promise<ChainOutcome[]> {
  const steps = a.chain?.dependents ?? [];
  const done: ChainOutcome[] = [];
  // The namespaces a dependent may share: the root's containers, and those of earlier steps.
  const members = new Map<string, string>();
  for (const name of deps.rootContainers) {
    const info = await find(ctx, name);
    if (info) members.set(name, info.Id);
  }
  for (const [i, step] of steps.entries()) {
    try {
      done.push(await healStep(ctx, a, step, deps, members));
    } catch (err) {
      const rest = steps.slice(i + 1).map((s) => s.service);
      const did = done.map((d) => `${d.service} ${d.outcome}`);
      throw new OperationError(
        `${a.service} came back, but ${step.service} did not: ${(err as Error).message}. Done: ${a.service}${did.length ? `, ${did.join(', ')}` : ''}. Not done: ${[step.service, ...rest].join(', ')}`,
      );
    }
    ctx.step?.(`${done.at(-1)!.outcome} ${step.service}${done.at(-1)!.outcome === 'left' ? ` (${done.at(-1)!.note})` : ''}`);
  }
  return done;
}

async function healStep(ctx: OpContext, a: Action, step: ChainStep, deps: { oldIds: readonly string[]; containersOf: (service: string) => readonly string[] }, members: Map<string, string>): Promise<ChainOutcome> {
  for (const need of step.needs) {
    for (const name of deps.containersOf(need)) {
      const info = await find(ctx, name);
      if (!info?.State.Running) return { service: step.service, outcome: 'left', note: `it also needs ${need}, which is not running; ${need}'s own action brings it back` };
    }
  }
  let restarted = false;
  let recreated = false;
  for (const name of step.containers) {
    const { info } = await inspectNamed(ctx, name);
    const ns = namespaceOf(info);
    const target = ns === undefined ? undefined : [...members].find(([n, id]) => refersTo(ns, n, id, deps.oldIds));
    const gone = ns !== undefined && target !== undefined && !(await find(ctx, ns));
    const broken = !info.State.Running || info.State.Health?.Status === 'unhealthy';
    if (gone) {
      // The root was recreated: join its new namespace (the old container id is no more).
      await recreateContainer(ctx, name, { pull: false, networkMode: `container:${target[1]}` });
      members.set(name, (await find(ctx, name))?.Id ?? '');
      recreated = true;
    } else if (target !== undefined || broken) {
      await restartContainers(ctx, [name]);
      members.set(name, info.Id);
      restarted = true;
    }
  }
  if (recreated) return { service: step.service, outcome: 'recreated', note: `recreated into ${a.service}'s new network namespace` };
  if (restarted) return { service: step.service, outcome: 'restarted', note: `restarted after ${a.service}` };
  return { service: step.service, outcome: 'left', note: `healthy and not in ${a.service}'s network: left as it is` };
}
