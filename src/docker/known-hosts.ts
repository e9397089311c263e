// SSH host keys pinned the way OpenSSH pins them: a known_hosts file (docs/design/ssh-tls.md).
// Parsing and matching are pure (text in, verdicts out); readKnownHosts is the one reader of
// the file, for the handshake, the start's warnings and `hosts trust`.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A host key as the server presents it: the SSH wire blob, its type and SHA256 fingerprint. */
export interface HostKey {
  type: string;
  blob: Buffer;
  /** `SHA256:` + unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

export interface KnownHostsEntry {
  line: number;
  marker: '@revoked' | '@cert-authority' | undefined;
  /** The host field as written: comma-separated patterns, or one hashed `|1|salt|hash`. */
  hosts: string;
  key: HostKey;
}

export interface KnownHosts {
  entries: KnownHostsEntry[];
  /** Lines that could not be read (kept out of every decision, reported by `hosts trust`). */
  errors: { line: number; reason: string }[];
}

export type HostKeyVerdict =
  | { ok: true; line: number }
  | { ok: false; kind: 'unknown' }
  | { ok: false; kind: 'changed'; line: number; listed: HostKey }
  | { ok: false; kind: 'revoked'; line: number };

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH public key blob (its first string), or undefined. */
function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const n = blob.readUInt32BE(0);
  if (n === 0 || n > 64 || 4 + n > blob.length) return undefined;
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** A key blob as ssh2's host verifier receives it. Throws on something that is not one. */
export function hostKeyFromBlob(blob: Buffer): HostKey {
  const type = blobType(blob);
  if (!type || !/^[a-z0-9@.-]+$/i.test(type)) throw new Error('not an SSH public key blob');
  return { type, blob, fingerprint: fingerprintOf(blob) };
}

/**
 * How a target's host is looked up, as OpenSSH writes it: `host` on port 22, `[host]:port`
 * otherwise. An IPv6 address is written without the brackets of its URL.
 */
export function knownHostsName(host: string, port: number): string {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** One known_hosts line for a key (what `ssh-keyscan` prints). */
export function knownHostsLine(name: string, key: HostKey): string {
  return `${name} ${key.type} ${key.blob.toString('base64')}`;
}

/**
 * The file's text (empty when it does not exist, or is not named), or why it cannot be read: a
 * file that cannot be read lists nothing. Synchronous: it is read inside ssh2's handshake.
 */
export function readKnownHosts(file: string | undefined): { text: string; unreadable?: string } {
  if (!file) return { text: '' };
  try {
    return { text: readFileSync(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? { text: '' } : { text: '', unreadable: code ?? (err as Error).message };
  }
}

export function parseKnownHosts(text: string): KnownHosts {
  const entries: KnownHostsEntry[] = [];
  const errors: { line: number; reason: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (!s || s.startsWith('#')) return;
    const fields = s.split(/\s+/);
    let marker: KnownHostsEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m !== '@revoked' && m !== '@cert-authority') return void errors.push({ line, reason: `unknown marker ${m}` });
      marker = m;
    }
    const [hosts, type, b64] = fields;
    if (!hosts || !type || !b64) return void errors.push({ line, reason: 'expected: [marker] hosts key-type base64-key [comment]' });
    const blob = Buffer.from(b64, 'base64');
    if (blob.toString('base64').replace(/=+$/, '') !== b64.replace(/=+$/, '')) return void errors.push({ line, reason: 'the key is not base64' });
    if (blobType(blob) !== type) return void errors.push({ line, reason: `the key is not a ${type} key` });
    entries.push({ line, marker, hosts, key: { type, blob, fingerprint: fingerprintOf(blob) } });
  });
  return { entries, errors };
}

/** A glob of OpenSSH host patterns: `*` any run, `?` one character. */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(name);
}

function hashedMatch(field: string, name: string): boolean {
  const [, magic, salt, hash] = field.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Whether an entry's host field names `name` (OpenSSH rules: a `!pattern` that matches vetoes). */
export function entryMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedMatch(hosts, name);
  let matched = false;
  for (const p of hosts.toLowerCase().split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

/**
 * What known_hosts says of the key `name` presented, as OpenSSH decides: a revoked key is refused
 * wherever it is listed; a listed key of the host is accepted; another key of the same type for
 * the host is a changed key; otherwise the host (for that key type) is unknown. Certificate
 * authorities are not supported (their lines are skipped).
 */
export function checkHostKey(known: KnownHosts, name: string, key: HostKey): HostKeyVerdict {
  const revoked = known.entries.find((e) => e.marker === '@revoked' && e.key.blob.equals(key.blob));
  if (revoked) return { ok: false, kind: 'revoked', line: revoked.line };
  const forHost = known.entries.filter((e) => e.marker === undefined && entryMatches(e.hosts, name));
  const same = forHost.find((e) => e.key.blob.equals(key.blob));
  if (same) return { ok: true, line: same.line };
  const changed = forHost.find((e) => e.key.type === key.type);
  if (changed) return { ok: false, kind: 'changed', line: changed.line, listed: changed.key };
  return { ok: false, kind: 'unknown' };
}

/** A host key refused at connection time, kept to explain the error the connection ends with. */
export interface HostKeyRefusal {
  /** As known_hosts names the host: `host` or `[host]:port`. */
  name: string;
  host: string;
  port: number;
  key: HostKey;
  verdict: Exclude<HostKeyVerdict, { ok: true }>;
  /** The known_hosts file consulted. */
  file: string;
  /** Why the file could not be read (it then lists nothing), when it could not. */
  unreadable?: string;
}

/** The part of OpenSSH's host key file name for a key type: ed25519, ecdsa, rsa. */
function hostKeyFileType(type: string): string {
  if (type.startsWith('ecdsa-')) return 'ecdsa';
  return type.replace(/^ssh-/, '');
}

/** What the operator reads when a host key is refused: which key, why, and what to do. */
export function explainRefusal(r: HostKeyRefusal, where: string, node: string): string {
  const presented = `${r.key.type} key ${r.key.fingerprint}`;
  const scan = `ssh-keyscan${r.port === 22 ? '' : ` -p ${r.port}`} -t ${r.key.type} ${r.host} >> ${r.file}`;
  switch (r.verdict.kind) {
    case 'unknown':
      if (r.unreadable) return `refused ${where}: SSH_KNOWN_HOSTS (${r.file}) cannot be read (${r.unreadable}), so no host key is trusted; it presented the ${presented}. Nothing was sent. Let this user read the file`;
      return `refused ${where}: its SSH host key is not in SSH_KNOWN_HOSTS (${r.file}); it presented the ${presented}. Nothing was sent. Check that fingerprint on the node (ssh-keygen -lf /etc/ssh/ssh_host_${hostKeyFileType(r.key.type)}_key.pub), then trust it: control-plane hosts trust ${node} (or ${scan})`;
    case 'changed':
      return `refused ${where}: it presented the ${presented}, but SSH_KNOWN_HOSTS (${r.file}, line ${r.verdict.line}) lists ${r.verdict.listed.fingerprint} for it. Nothing was sent. The node was reinstalled, or something else answers at that address: check on the node, then replace that line by hand (a changed key is never replaced automatically)`;
    case 'revoked':
      return `refused ${where}: it presented the ${presented}, which SSH_KNOWN_HOSTS (${r.file}, line ${r.verdict.line}) marks @revoked. Nothing was sent`;
  }
}

/** Whether known_hosts lists any key for `name` (without connecting: for the warning at start). */
export function listsHost(known: KnownHosts, name: string): boolean {
  return known.entries.some((e) => e.marker === undefined && entryMatches(e.hosts, name));
}
