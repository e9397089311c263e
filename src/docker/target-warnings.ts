// What the start says about remote engines that cannot work or are not protected: one line per
// node, and only for nodes the control plane watches something on (docs/operator/remote-engines.md).
import { hasSshCredentials, sshCredentialsHint, sshTarget, unauthenticatedTcp, type DockerTarget, type EngineOptions } from './engine.js';
import { knownHostsName, listsHost, parseKnownHosts, readKnownHosts, type KnownHosts } from './known-hosts.js';

export interface TargetNode {
  node: string;
  docker: DockerTarget;
  services: Readonly<Record<string, { monitor: boolean }>>;
}

/**
 * One warning per remote target of a node with a watched service: ssh:// without credentials
 * and/or whose host key is not pinned (both in one line), tcp:// off this machine without TLS.
 */
export function remoteTargetWarnings(desired: Readonly<Record<string, TargetNode>>, opts: EngineOptions): { node: string; message: string }[] {
  const out: { node: string; message: string }[] = [];
  let known: KnownHosts | undefined;
  for (const dn of Object.values(desired)) {
    // A node where nothing is watched gets no action: its engine is never reached.
    if (!Object.values(dn.services).some((s) => s.monitor)) continue;
    const url = dn.docker.url;
    if (url?.startsWith('ssh://')) {
      known ??= parseKnownHosts(readKnownHosts(opts.knownHostsPath).text);
      const { host, port } = sshTarget(url);
      const creds = hasSshCredentials(opts) ? undefined : sshCredentialsHint(url);
      const pinned = listsHost(known, knownHostsName(host, port));
      if (creds && !pinned) {
        out.push({ node: dn.node, message: `${dn.node}: ${creds}, and the SSH host key of ${url} is not in SSH_KNOWN_HOSTS (${opts.knownHostsPath}): run control-plane hosts trust ${dn.node}; until then its actions fail` });
      } else if (creds) {
        out.push({ node: dn.node, message: `${dn.node}: ${creds}; until then its actions fail` });
      } else if (!pinned) {
        out.push({ node: dn.node, message: `${dn.node}: the SSH host key of ${url} is not in SSH_KNOWN_HOSTS (${opts.knownHostsPath}); until it is, every connection is refused: run control-plane hosts trust ${dn.node}` });
      }
    }
    if (unauthenticatedTcp(dn.docker)) {
      out.push({ node: dn.node, message: `${dn.node}: ${url} is plain HTTP without authentication: anyone who reaches that port is root on ${dn.node}; use tls: (docs/operator/remote-engines.md) or ssh://` });
    }
  }
  return out;
}
