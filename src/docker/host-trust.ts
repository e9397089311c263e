// `control-plane hosts trust`: fetch an SSH server's host key (without authenticating) and add
// it to known_hosts after the operator compared its fingerprint (docs/design/ssh-tls.md).
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'ssh2';
import { checkHostKey, hostKeyFromBlob, knownHostsLine, knownHostsName, parseKnownHosts, readKnownHosts, type HostKey, type HostKeyVerdict } from './known-hosts.js';

/**
 * The host key `host:port` presents. The connection is cut in the key exchange, before any
 * authentication: nothing of ours is sent but the SSH handshake.
 */
export function fetchHostKey(host: string, port: number, timeoutMs = 15_000): Promise<HostKey> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let key: HostKey | undefined;
    const done = (err?: Error) => {
      client.removeAllListeners();
      client.on('error', () => {});
      client.end();
      if (key) resolve(key);
      else reject(err ?? new Error(`${host}:${port} closed the connection before presenting a host key`));
    };
    client.on('error', (err) => done(err));
    client.on('close', () => done());
    client.connect({
      host,
      port,
      username: 'hosts-trust',
      readyTimeout: timeoutMs,
      // Inside ssh2's handshake: record and refuse, never throw.
      hostVerifier: (blob: Buffer) => {
        try {
          key = hostKeyFromBlob(blob);
        } catch {
          key = undefined;
        }
        return false;
      },
    });
  });
}

/** The file's text; one that exists but cannot be read is an error here (nothing to decide on). */
function knownHostsText(file: string): string {
  const { text, unreadable } = readKnownHosts(file);
  if (unreadable) throw new Error(`cannot read SSH_KNOWN_HOSTS ${file} (${unreadable})`);
  return text;
}

/** What known_hosts says of `key` for that host now. */
export async function knownHostsVerdict(file: string, host: string, port: number, key: HostKey): Promise<HostKeyVerdict> {
  return checkHostKey(parseKnownHosts(knownHostsText(file)), knownHostsName(host, port), key);
}

/** Appends the key's line (the directory is made private when it is created). */
export async function addHostKey(file: string, host: string, port: number, key: HostKey): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const text = knownHostsText(file);
  const sep = text && !text.endsWith('\n') ? '\n' : '';
  await appendFile(file, `${sep}${knownHostsLine(knownHostsName(host, port), key)}\n`, { mode: 0o600 });
}
