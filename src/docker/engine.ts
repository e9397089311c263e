// Reaching a node's Docker Engine. The only place (with ops.ts) that imports dockerode.
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { EngineError } from '../errors.js';

export interface DockerTarget {
  socket?: string;
  url?: string;
}

export interface EngineOptions {
  /** Private key for ssh:// targets; without it the SSH agent (SSH_AUTH_SOCK) is used. */
  sshKeyPath?: string;
  sshAuthSock?: string;
}

export function describeTarget(t: DockerTarget): string {
  return t.url ?? `unix://${t.socket ?? '/var/run/docker.sock'}`;
}

/** True when an ssh:// target has something to authenticate with. */
export function hasSshCredentials(opts: EngineOptions): boolean {
  return Boolean(opts.sshKeyPath || opts.sshAuthSock);
}

/** What to configure when an ssh:// target has no credentials (said at start and by the action). */
export function sshCredentialsHint(url: string): string {
  return `${url} needs SSH credentials: set SSH_KEY_PATH to a private key file whose public key is in the node's authorized_keys, or SSH_AUTH_SOCK to a running ssh-agent holding one`;
}

/**
 * docker-modem joins the ssh:// target into a URL ("ssh:host:port…") only to pass it through
 * url.resolve, which Node flags as DEP0170 on every call; the connection itself goes through
 * ssh2 and never uses that URL. Only that one warning is dropped; every other passes.
 */
let sshWarningFiltered = false;
function filterSshUrlWarning(): void {
  if (sshWarningFiltered) return;
  sshWarningFiltered = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
    if (code === 'DEP0170' && /^The URL ssh:/.test(String(warning instanceof Error ? warning.message : warning))) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** A dockerode client for a services.yaml `docker:` block. */
export function engineFor(target: DockerTarget, opts: EngineOptions = {}): Docker {
  if (!target.url) return new Docker({ socketPath: target.socket ?? '/var/run/docker.sock', timeout: 0 });
  const u = new URL(target.url);
  if (u.protocol === 'ssh:') {
    filterSshUrlWarning();
    const sshOptions: Record<string, unknown> = { readyTimeout: 15_000 };
    if (opts.sshKeyPath) sshOptions.privateKey = readFileSync(opts.sshKeyPath);
    else if (opts.sshAuthSock) sshOptions.agent = opts.sshAuthSock;
    return new Docker({
      protocol: 'ssh',
      host: u.hostname,
      port: u.port ? Number(u.port) : 22,
      username: decodeURIComponent(u.username) || 'root',
      sshOptions,
    } as Docker.DockerOptions);
  }
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  return new Docker({ protocol, host: u.hostname, port: u.port ? Number(u.port) : protocol === 'https' ? 2376 : 2375 });
}

/** What dockerode throws, as an EngineError whose message tells the operator what to check. */
export function engineError(err: unknown, target: DockerTarget, node: string): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { code?: string; statusCode?: number };
  const reason = e?.code ?? (typeof e?.statusCode === 'number' ? String(e.statusCode) : 'error');
  // Answers of the engine (4xx) will be the same next time; lost connections may not.
  const transient = !(typeof e?.statusCode === 'number' && e.statusCode < 500);
  return new EngineError(explainDockerError(err, target, node), reason, transient, { cause: err });
}

/** Turns what dockerode throws into a sentence that tells the operator what to check. */
export function explainDockerError(err: unknown, target: DockerTarget, node: string): string {
  const e = err as NodeJS.ErrnoException & { statusCode?: number; json?: { message?: string }; reason?: string; level?: string };
  const where = `${node}'s Docker Engine at ${describeTarget(target)}`;
  const msg = e?.json?.message ?? e?.message ?? String(err);
  switch (e?.code) {
    case 'ENOENT':
      return `cannot reach ${where}: the socket does not exist (is dockerd running there, and is the socket mounted into this container?)`;
    case 'EACCES':
      return `cannot reach ${where}: permission denied on the socket (run as a member of the docker group, or use a socket proxy)`;
    case 'ECONNREFUSED':
      return `cannot reach ${where}: connection refused (is dockerd running and listening there?)`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot reach ${where}: ${e.code} (is the node up and on the tailnet?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot reach ${where}: host name does not resolve (${e.code})`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `lost ${where} in the middle of the operation (${e.code}: did dockerd stop or restart?); check the containers' state there before trying again`;
  }
  if (/socket hang up/i.test(msg)) {
    return `lost ${where} in the middle of the operation (socket hang up: did dockerd stop or restart?); check the containers' state there before trying again`;
  }
  if (e?.level === 'client-authentication' || /All configured authentication methods failed/i.test(msg)) {
    return `cannot reach ${where}: SSH authentication failed (check SSH_KEY_PATH or the SSH agent, and that the user may run docker)`;
  }
  if (/Connection lost before handshake/i.test(msg)) {
    return `cannot reach ${where}: the SSH server closed the connection before the handshake (is sshd running on that port? does it allow this address?)`;
  }
  if (e?.statusCode === 404) return `${msg} on ${node}`;
  if (typeof e?.statusCode === 'number') return `${where} answered ${e.statusCode}: ${msg}`;
  return `${where}: ${msg}`;
}
