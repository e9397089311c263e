// What the engine says a service depends on (docs/design/supervisor.md, learned dependencies):
// a container started in another container's network namespace (`NetworkMode: container:<id>`,
// compose's `network_mode: service:x`), and compose's `com.docker.compose.depends_on` label
// (`svc:condition:restart,…`) naming a service of the same compose project. Each link names the
// container and, when services.yaml names that container, its service; a link to a container
// services.yaml does not name is reported (and shown), never acted on.
import type Docker from 'dockerode';
import type { DesiredNode, Link } from '../domain/schemas.js';


const PROJECT = 'com.docker.compose.project';
const SERVICE = 'com.docker.compose.service';
const DEPENDS = 'com.docker.compose.depends_on';

/**
 * The links of each service, from the inspections of every watched container (`infos`, by
 * service). `byId` resolves a container id to its name (one that is gone: undefined).
 */
export async function linksOf(desired: DesiredNode, infos: ReadonlyMap<string, readonly (Docker.ContainerInspectInfo | undefined)[]>, byId: (id: string) => Promise<string | undefined>): Promise<Map<string, Link[]>> {
  const serviceOfContainer = new Map<string, string>();
  for (const s of Object.values(desired.services)) for (const c of s.containers) serviceOfContainer.set(c, s.service);
  // Compose service (project/service) → the watched container that runs it.
  const composed = new Map<string, string>();
  for (const list of infos.values()) {
    for (const info of list) {
      const l = info?.Config.Labels ?? {};
      if (info && l[PROJECT] && l[SERVICE]) composed.set(`${l[PROJECT]}/${l[SERVICE]}`, info.Name.replace(/^\//, ''));
    }
  }
  const out = new Map<string, Link[]>();
  for (const [service, list] of infos) {
    const links: Link[] = [];
    const add = (container: string, how: Link['how']) => {
      const on = serviceOfContainer.get(container) ?? null;
      if (on === service || links.some((x) => x.container === container && x.how === how)) return;
      links.push({ on, container, how });
    };
    for (const info of list) {
      if (!info) continue;
      const m = /^container:(.+)$/.exec(info.HostConfig?.NetworkMode ?? '');
      if (m) {
        const name = serviceOfContainer.has(m[1]!) ? m[1]! : await byId(m[1]!);
        add(name ?? m[1]!.slice(0, 12), 'network');
      }
      const labels = info.Config.Labels ?? {};
      for (const dep of (labels[DEPENDS] ?? '').split(',')) {
        const svc = dep.split(':')[0]?.trim();
        if (!svc || !labels[PROJECT]) continue;
        add(composed.get(`${labels[PROJECT]}/${svc}`) ?? `${labels[PROJECT]}-${svc}`, 'compose');
      }
    }
    if (links.length) out.set(service, links.sort((a, b) => (a.container < b.container ? -1 : a.container > b.container ? 1 : a.how < b.how ? -1 : 1)));
  }
  return out;
}
