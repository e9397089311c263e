// The NATS settings (docs/operator/scale-out.md), read from the environment config.ts was given:
// the server list of NATS_URL, the files of its credentials, and the name a control plane's durable
// consumer goes by (CONTROL_PLANE_ID). Shared by the control plane and the agent.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';


/** A server as it may be shown: a password or token in it hidden. */
export function shownServer(server: string): string {
  return server.replace(/\/\/([^@/]*)@/, (_, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0]}:<hidden>` : '<hidden>'}@`);
}

/** NATS_URL: servers separated by commas, each nats://host[:port] or tls://host[:port] (user:password@ allowed). */
export function parseNatsUrls(text: string): { servers: string[] } | { error: string } {
  const servers = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (servers.length === 0) return { error: 'names no server; e.g. nats://127.0.0.1:4222' };
  for (const server of servers) {
    const s = shownServer(server);
    let u: URL;
    try {
      u = new URL(server);
    } catch {
      return { error: `${JSON.stringify(s)} is not a URL; e.g. nats://10.0.0.2:4222 or tls://nats.example.org:4222` };
    }
    if (u.protocol !== 'nats:' && u.protocol !== 'tls:') return { error: `${JSON.stringify(s)}: the scheme must be nats:// or tls://` };
    if (!u.hostname) return { error: `${JSON.stringify(s)} names no host` };
    if ((u.pathname !== '' && u.pathname !== '/') || u.search || u.hash) return { error: `${JSON.stringify(s)}: a server is host[:port] only, without a path` };
  }
  return { servers };
}

/** A durable consumer's name: letters, digits, - and _ (NATS refuses . * > and spaces). */
export const CONSUMER_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** The default CONTROL_PLANE_ID: the host's name, made a consumer name. */
export function consumerNameOf(hostname: string): string {
  const name = hostname.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64);
  return name || 'control-plane';
}

/** Where NATS is and how to prove who we are: every file named exists (checked at start). */
export interface NatsSettings {
  servers: string[];
  creds: string | undefined;
  nkey: string | undefined;
  tls: { ca: string | undefined; cert: string | undefined; key: string | undefined } | undefined;
}

/** NATS_URL and the files beside it, checked; undefined without NATS_URL. Shared by the agent. */
export function natsSettings(e: Partial<Record<'NATS_URL' | 'NATS_CREDS' | 'NATS_NKEY' | 'NATS_TLS_CA' | 'NATS_TLS_CERT' | 'NATS_TLS_KEY', string>>): NatsSettings | undefined {
  const files = ['NATS_CREDS', 'NATS_NKEY', 'NATS_TLS_CA', 'NATS_TLS_CERT', 'NATS_TLS_KEY'] as const;
  const url = e.NATS_URL?.trim();
  if (!url) {
    const stray = files.find((f) => e[f]?.trim());
    if (stray) throw new ConfigError(stray, 'is set but NATS_URL is not: set NATS_URL to the NATS servers, or unset it');
    return undefined;
  }
  const parsed = parseNatsUrls(url);
  if ('error' in parsed) throw new ConfigError('NATS_URL', parsed.error);
  const file = (f: (typeof files)[number]) => {
    const v = e[f]?.trim();
    if (v && !existsSync(v)) throw new ConfigError(f, `no such file ${JSON.stringify(v)}`);
    return v ? path.resolve(v) : undefined;
  };
  if (e.NATS_CREDS?.trim() && e.NATS_NKEY?.trim()) throw new ConfigError('NATS_NKEY', 'and NATS_CREDS are both set: use one (a .creds file holds the user JWT and its NKey seed)');
  const [ca, cert, key] = [file('NATS_TLS_CA'), file('NATS_TLS_CERT'), file('NATS_TLS_KEY')];
  if (Boolean(cert) !== Boolean(key)) throw new ConfigError(cert ? 'NATS_TLS_KEY' : 'NATS_TLS_CERT', 'is needed too: a client certificate comes with its key');
  return { servers: parsed.servers, creds: file('NATS_CREDS'), nkey: file('NATS_NKEY'), tls: ca || cert ? { ca, cert, key } : undefined };
}
