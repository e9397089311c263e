// Reaching a node's Docker Engine. The only place (with ops.ts) that imports dockerode.
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { EngineError, explainTlsError } from '../errors.js';
import { checkHostKey, explainRefusal, hostKeyFromBlob, knownHostsName, parseKnownHosts, readKnownHosts, type HostKeyRefusal } from './known-hosts.js';

export interface DockerTarget {
  socket?: string;
  url?: string;
  /** Absolute paths of the CA, client certificate and key for a tcp:// engine behind TLS. */
  tls?: { ca: string; cert: string; key: string };
}

export interface EngineOptions {
  /** Private key for ssh:// targets; without it the SSH agent (SSH_AUTH_SOCK) is used. */
  sshKeyPath?: string;
  sshAuthSock?: string;
  /** The known_hosts file an ssh:// target's host key must be listed in (none: every key refused). */
  knownHostsPath?: string;
}

/** The engine options of a loaded configuration. */
export function engineOptionsOf(cfg: { ssh: { keyPath: string | undefined; authSock: string | undefined; knownHosts: string } }): EngineOptions {
  return {
    ...(cfg.ssh.keyPath ? { sshKeyPath: cfg.ssh.keyPath } : {}),
    ...(cfg.ssh.authSock ? { sshAuthSock: cfg.ssh.authSock } : {}),
    knownHostsPath: cfg.ssh.knownHosts,
  };
}

/** The last host key refused per known_hosts name, to explain the error its connection ends with. */
const refusals = new Map<string, HostKeyRefusal>();

/**
 * Checks the host key an SSH server presented against known_hosts, read at every connection so
 * that a key added by `hosts trust` counts at once. A refusal is remembered for the error message.
 */
export function verifyHostKey(file: string | undefined, host: string, port: number, blob: Buffer): boolean {
  // Runs inside ssh2's handshake: it refuses, it never throws.
  const name = knownHostsName(host, port);
  const { text, unreadable } = readKnownHosts(file);
  let key;
  try {
    key = hostKeyFromBlob(blob);
  } catch {
    return false;
  }
  const verdict = checkHostKey(parseKnownHosts(text), name, key);
  if (verdict.ok) {
    refusals.delete(name);
    return true;
  }
  refusals.set(name, { name, host, port, key, verdict, file: file ?? '(no SSH_KNOWN_HOSTS)', ...(unreadable ? { unreadable } : {}) });
  return false;
}

/** Host, port and user of an ssh:// URL. */
export function sshTarget(url: string): { host: string; port: number; username: string } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : 22, username: decodeURIComponent(u.username) || 'root' };
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

/**
 * One dockerode client per engine target, shared by the executor, the update checker and the
 * inspector; a target changed in services.yaml gets a new one. `make` is for tests.
 */
export class EngineClients {
  private readonly clients = new Map<string, Docker>();

  constructor(
    readonly options: EngineOptions = {},
    private readonly make: (target: DockerTarget) => Docker = (target) => engineFor(target, options),
  ) {}

  get(target: DockerTarget): Docker {
    const key = JSON.stringify(target);
    let client = this.clients.get(key);
    if (!client) {
      client = this.make(target);
      this.clients.set(key, client);
    }
    return client;
  }
}

/** A dockerode client for a services.yaml `docker:` block. */
export function engineFor(target: DockerTarget, opts: EngineOptions = {}): Docker {
  if (!target.url) return new Docker({ socketPath: target.socket ?? '/var/run/docker.sock', timeout: 0 });
  const u = new URL(target.url);
  if (u.protocol === 'ssh:') {
    filterSshUrlWarning();
    const { host, port, username } = sshTarget(target.url);
    // Refused before authentication unless known_hosts lists the key (docs/design/ssh-tls.md).
    const sshOptions: Record<string, unknown> = { readyTimeout: 15_000, hostVerifier: (blob: Buffer) => verifyHostKey(opts.knownHostsPath, host, port, blob) };
    if (opts.sshKeyPath) sshOptions.privateKey = readFileSync(opts.sshKeyPath);
    else if (opts.sshAuthSock) sshOptions.agent = opts.sshAuthSock;
    return new Docker({ protocol: 'ssh', host, port, username, sshOptions } as Docker.DockerOptions);
  }
  if (target.tls) {
    // The engine is checked against the CA (and its name against the certificate); this client
    // shows its own certificate. No option turns the check off.
    return new Docker({ protocol: 'https', host: u.hostname, port: u.port ? Number(u.port) : 2376, ...readTls(target.tls) });
  }
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  return new Docker({ protocol, host: u.hostname, port: u.port ? Number(u.port) : protocol === 'https' ? 2376 : 2375 });
}

/** The TLS files of a target, read; a file that cannot be read is named in the error. */
function readTls(tls: NonNullable<DockerTarget['tls']>): { ca: Buffer; cert: Buffer; key: Buffer } {
  const read = (what: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new EngineError(`cannot read the TLS ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); see docs/operator/remote-engines.md`, 'tls_files', false);
    }
  };
  return { ca: read('CA certificate', tls.ca), cert: read('client certificate', tls.cert), key: read('client key', tls.key) };
}

/** True for a tcp:// or http:// target without TLS on an address that is not this machine. */
export function unauthenticatedTcp(target: DockerTarget): boolean {
  if (!target.url || target.tls || !/^(tcp|http):\/\//.test(target.url)) return false;
  const host = new URL(target.url).hostname.replace(/^\[(.*)\]$/, '$1');
  return !(host === 'localhost' || /^127\./.test(host) || host === '::1');
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
      // TLS 1.3 ends the handshake before the engine checks this client's certificate: a refusal
      // then shows as a reset, not as an alert.
      if (target.tls) return `${where} reset the connection (${e.code}): it refused this client's TLS certificate (check that tls: cert and key were signed by the CA the engine's --tlscacert names), or dockerd stopped mid-operation; check the containers' state there before trying again`;
      // Over SSH a reset does not say when it came: an sshd (or a firewall) refusing before the
      // handshake, when nothing was sent, looks the same as dockerd going away mid-operation.
      if (target.url?.startsWith('ssh://')) return `${where} reset the connection (${e.code}): the SSH server hung up (before the handshake: is sshd running on that port, does it allow this address?) or dockerd stopped mid-operation; if an operation was under way, check the containers' state there before trying again`;
      return `lost ${where} in the middle of the operation (${e.code}: did dockerd stop or restart?); check the containers' state there before trying again`;
  }
  if (/Host denied \(verification failed\)/.test(msg) && target.url?.startsWith('ssh://')) {
    const { host, port } = sshTarget(target.url);
    const refusal = refusals.get(knownHostsName(host, port));
    if (refusal) return explainRefusal(refusal, where, node);
    return `refused ${where}: its SSH host key is not trusted (SSH_KNOWN_HOSTS); nothing was sent`;
  }
  const tls = explainTlsError(e?.code, msg, 'the engine', "tls: cert and key, and that the engine's --tlscacert signed them");
  if (tls) return `cannot reach ${where}: ${tls}; nothing was sent`;
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
