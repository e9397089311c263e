// Real servers in front of the real Docker Engine, started and stopped by the tests: Debian's
// OpenSSH sshd (root with a key runs `docker system dial-stdio` there, as on a node) and a TLS
// relay that asks for a client certificate, with certificates made by openssl.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { waitFor } from './helpers.js';
import { freePort } from './registry.js';

export const SSHD = '/usr/sbin/sshd';

/** Why the sshd tests cannot run here, or undefined. */
export function sshdMissing(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install -y openssh-server; .ci/run does)`;
  if (process.getuid?.() !== 0) return 'sshd with its own config must run as root here (privilege separation)';
  return undefined;
}

/** Resolves once something accepts TCP connections on the port, or throws after the deadline. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const c = net.connect(port, '127.0.0.1');
        c.once('connect', () => (c.destroy(), resolve(true)));
        c.once('error', () => resolve(false));
      }),
    { timeoutMs, what: `something listening on 127.0.0.1:${port}` },
  );
}

export interface Sshd {
  port: number;
  /** The host key's public half (OpenSSH format) and its SHA256 fingerprint as ssh-keygen prints it. */
  hostPub: string;
  fingerprint: string;
  /** The private key root's authorized_keys accepts. */
  clientKey: string;
  /** What sshd logged (LogLevel VERBOSE): "Accepted publickey" shows an authentication. */
  log: () => string;
  stop: () => Promise<void>;
}

export function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', file]);
}

export function fingerprintOf(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile], { encoding: 'utf8' }).split(/\s+/)[1]!;
}

export async function startSshd(dir: string): Promise<Sshd> {
  await mkdir(dir, { recursive: true });
  await mkdir('/run/sshd', { recursive: true });
  const hostKey = path.join(dir, 'host_ed25519');
  const clientKey = path.join(dir, 'client_ed25519');
  keygen(hostKey);
  keygen(clientKey);
  await writeFile(path.join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port).catch((err) => {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; sshd said: ${log}`);
  });
  return {
    port,
    hostPub: readFileSync(`${hostKey}.pub`, 'utf8').trim(),
    fingerprint: fingerprintOf(`${hostKey}.pub`),
    clientKey,
    log: () => log,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA (key and self-signed certificate) named `name` in `dir`. */
export function makeCa(dir: string, name: string): { cert: string; key: string } {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`], dir);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`) };
}

/** A certificate signed by `ca`, for a server (subjectAltName) or a client (clientAuth). */
export function makeCert(dir: string, name: string, ca: { cert: string; key: string }, ext: string): { cert: string; key: string } {
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  execFileSync('sh', ['-c', `printf '%s\\n' "${ext}" > ${name}.ext`], { cwd: dir });
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}-key.pem`) };
}

export interface TlsRelay {
  port: number;
  /** Connections whose client certificate the relay accepted (and so reached the engine). */
  accepted: () => number;
  /** Handshakes the relay refused, with the reason. */
  refused: () => string[];
  stop: () => Promise<void>;
}

/**
 * A TLS endpoint in front of the engine's socket, as dockerd --tlsverify is: the server shows
 * `server`, and only clients with a certificate signed by `clientCa` get through.
 */
export async function startTlsRelay(server: { cert: string; key: string }, clientCa: string, upstream = '/var/run/docker.sock'): Promise<TlsRelay> {
  let accepted = 0;
  const refused: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = tls.createServer({ cert: readFileSync(server.cert), key: readFileSync(server.key), ca: readFileSync(clientCa), requestCert: true, rejectUnauthorized: true }, (s) => {
    accepted++;
    const up = net.connect(upstream);
    sockets.add(s).add(up);
    s.pipe(up).pipe(s);
    const end = () => (s.destroy(), up.destroy());
    s.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  srv.on('tlsClientError', (err) => refused.push((err as NodeJS.ErrnoException).code ?? err.message));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as net.AddressInfo).port,
    accepted: () => accepted,
    refused: () => refused,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}
