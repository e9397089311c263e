// A small client of the Registry HTTP API v2 (the OCI distribution spec): the digest a tag names
// now (HEAD, which Docker Hub does not count as a pull), and the created time and labels of the
// image behind a digest. Anonymous bearer tokens as Docker Hub and GHCR hand out, Basic and token
// auth with credentials from a docker config.json, 429 / Retry-After and RateLimit-Remaining
// honoured. docs/design/updates.md says why this is not a library.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isLoopbackRegistry, registryHost, type ImageRef } from '../domain/image-ref.js';
import { RETRY_POLICIES, withRetries } from '../time/backoff.js';
import { realClock, type Clock } from '../time/clock.js';
import { ConfigError } from '../errors.js';

/** What `docker pull name:tag` asks for: multi-arch indexes first, then single manifests. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
].join(', ');

export type RegistryErrorKind = 'unreachable' | 'unauthorized' | 'not_found' | 'rate_limited' | 'protocol' | 'insecure';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** Registries (`host[:port]`) spoken to over plain HTTP besides loopback ones (INSECURE_REGISTRIES). */
  insecure?: readonly string[];
  /** Credentials by registry domain (`docker.io`, `ghcr.io`, `host:port`), from a docker config.json. */
  credentials?: ReadonlyMap<string, Credentials>;
  /** Per request, ms (default 15 s). */
  timeoutMs?: number;
  /** Time and waits between attempts (RETRY_POLICIES.registry); the real clock when left out. */
  clock?: Clock;
  fetch?: typeof fetch;
}

export interface ImageDetails {
  created?: string;
  version?: string;
  source?: string;
}

export interface Platform {
  os?: string;
  architecture?: string;
  variant?: string;
}

interface Token {
  value: string;
  expiresAt: number;
}

/** `Bearer realm="…",service="…",scope="…"` → its scheme and parameters. */
export function parseChallenge(header: string | null): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

/** `Retry-After` in seconds (a number or an HTTP date), or undefined. */
export function retryAfterS(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const t = Date.parse(header);
  return Number.isFinite(t) ? Math.max(0, Math.ceil((t - now) / 1000)) : undefined;
}

/** `RateLimit-Remaining: 76;w=21600` → { remaining: 76, windowS: 21600 }. */
export function parseRateLimit(header: string | null): { remaining: number; windowS?: number } | undefined {
  const m = header ? /^\s*(\d+)(?:\s*;\s*w=(\d+))?/.exec(header) : null;
  return m ? { remaining: Number(m[1]), ...(m[2] ? { windowS: Number(m[2]) } : {}) } : undefined;
}

/** Registry credentials (docs/design/updates.md), read once per start and per `updates check`. */
export interface RegistryAuth {
  credentials: ReadonlyMap<string, Credentials>;
  /** What config.json asks for that is not supported (credential helpers). */
  unsupported: readonly string[];
}

/**
 * The credentials of DOCKER_CONFIG/config.json (none when DOCKER_CONFIG is not set, or has no
 * config.json, as docker treats it); a directory that is not one, or a file that is not JSON,
 * is a configuration error naming DOCKER_CONFIG.
 */
export function registryAuth(dockerConfig: string | undefined): RegistryAuth {
  if (!dockerConfig) return { credentials: new Map(), unsupported: [] };
  try {
    return loadDockerCredentials(dockerConfig);
  } catch (err) {
    throw new ConfigError('DOCKER_CONFIG', `${(err as Error).message} (the directory of a docker config.json with registry credentials)`);
  }
}

/**
 * Credentials from `<dir>/config.json` (what `docker login` writes): `auths` entries with `auth`
 * (base64 user:password) or `username`/`password`. Credential helpers are programs of their own
 * and are not run; they are named in `unsupported`. A missing file is no credentials; an
 * unreadable or malformed one throws.
 */
function loadDockerCredentials(dir: string): { credentials: Map<string, Credentials>; unsupported: string[] } {
  const file = path.join(dir, 'config.json');
  const credentials = new Map<string, Credentials>();
  const unsupported: string[] = [];
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dir} is not a directory`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { credentials, unsupported };
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: { auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>; credsStore?: string; credHelpers?: Record<string, string> };
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) throw new Error(`${file} is not a JSON object`);
  if (doc.credsStore) unsupported.push(`credsStore ${doc.credsStore}`);
  for (const [host, helper] of Object.entries(doc.credHelpers ?? {})) unsupported.push(`credHelpers ${host}=${helper}`);
  for (const [key, entry] of Object.entries(doc.auths ?? {})) {
    const domain = authsKeyDomain(key);
    let username = entry?.username;
    let password = entry?.password;
    if (entry?.auth) {
      const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      if (colon > 0) {
        username = plain.slice(0, colon);
        password = plain.slice(colon + 1);
      }
    }
    if (username && password) credentials.set(domain, { username, password });
    else if (entry?.identitytoken) unsupported.push(`identitytoken for ${key}`);
  }
  return { credentials, unsupported };
}

/** An `auths` key (`https://index.docker.io/v1/`, `ghcr.io`, `http://host:5000`) → the registry domain. */
function authsKeyDomain(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

/** A 5xx answer carried through the retrier; the last one is returned as it is. */
class ServerAnswer extends Error {
  constructor(readonly res: Response) {
    super(`HTTP ${res.status}`);
  }
}

export class RegistryClient {
  private tokens = new Map<string, Token>();
  /** Registry host → until when it is not asked again (after a 429, or nothing remaining). */
  private blocked = new Map<string, { until: number; why: string }>();
  private readonly clock: Clock;
  private readonly fetch: typeof fetch;

  constructor(private readonly opts: RegistryOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  /** Plain HTTP is spoken only to loopback registries and those listed in INSECURE_REGISTRIES. */
  private base(ref: ImageRef): string {
    const host = registryHost(ref.domain);
    const insecure = isLoopbackRegistry(ref.domain) || (this.opts.insecure ?? []).includes(ref.domain);
    return `${insecure ? 'http' : 'https'}://${host}`;
  }

  /**
   * The digest the registry gives for `tag` now: the manifest list / index digest for a
   * multi-arch image, the manifest digest otherwise — what `docker pull` records in RepoDigests.
   */
  async tagDigest(ref: ImageRef, tag: string): Promise<{ digest: string; remaining?: number }> {
    const res = await this.request(ref, 'HEAD', `manifests/${encodeURIComponent(tag)}`, MANIFEST_ACCEPT, `tag ${tag}`);
    let digest = res.headers.get('docker-content-digest') ?? undefined;
    if (!digest) {
      // A registry that leaves the header out of HEAD: the digest of the manifest's bytes.
      const full = await this.request(ref, 'GET', `manifests/${encodeURIComponent(tag)}`, MANIFEST_ACCEPT, `tag ${tag}`);
      digest = `sha256:${createHash('sha256').update(Buffer.from(await full.arrayBuffer())).digest('hex')}`;
    }
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new RegistryError('protocol', `${this.base(ref)} answered an unusable digest ${JSON.stringify(digest.slice(0, 80))}`);
    const rl = parseRateLimit(res.headers.get('ratelimit-remaining'));
    return { digest, ...(rl ? { remaining: rl.remaining } : {}) };
  }

  /**
   * The created time and the OCI version/source labels of the image `digest` names, for the
   * platform given (the first of an index otherwise). Three GETs: call it once per new digest.
   */
  async details(ref: ImageRef, digest: string, platform: Platform = {}): Promise<ImageDetails> {
    let manifest = (await (await this.request(ref, 'GET', `manifests/${digest}`, MANIFEST_ACCEPT, `manifest ${digest.slice(0, 19)}`)).json()) as {
      manifests?: { digest: string; platform?: Platform }[];
      config?: { digest: string };
    };
    if (Array.isArray(manifest.manifests)) {
      const list = manifest.manifests.filter((m) => m.platform?.os !== 'unknown');
      const pick =
        list.find((m) => m.platform?.os === (platform.os ?? 'linux') && m.platform?.architecture === platform.architecture && (!platform.variant || m.platform?.variant === platform.variant)) ??
        list.find((m) => m.platform?.os === (platform.os ?? 'linux') && m.platform?.architecture === platform.architecture) ??
        list[0];
      if (!pick) return {};
      manifest = (await (await this.request(ref, 'GET', `manifests/${pick.digest}`, MANIFEST_ACCEPT, `manifest ${pick.digest.slice(0, 19)}`)).json()) as typeof manifest;
    }
    if (!manifest.config?.digest) return {};
    const config = (await (await this.request(ref, 'GET', `blobs/${manifest.config.digest}`, '*/*', 'image config')).json()) as {
      created?: string;
      config?: { Labels?: Record<string, string> | null };
    };
    const labels = config.config?.Labels ?? {};
    return {
      ...(typeof config.created === 'string' ? { created: config.created } : {}),
      ...(labels['org.opencontainers.image.version'] ? { version: labels['org.opencontainers.image.version'] } : {}),
      ...(labels['org.opencontainers.image.source'] ? { source: labels['org.opencontainers.image.source'] } : {}),
    };
  }

  /** One API call with auth negotiated as the registry asks; errors say which registry and why. */
  private async request(ref: ImageRef, method: 'HEAD' | 'GET', rest: string, accept: string, what: string): Promise<Response> {
    const host = registryHost(ref.domain);
    const block = this.blocked.get(host);
    if (block && block.until > this.clock.now()) {
      throw new RegistryError('rate_limited', `${host} ${block.why}; not asked again for ${Math.ceil((block.until - this.clock.now()) / 1000)} s`, Math.ceil((block.until - this.clock.now()) / 1000));
    }
    const url = `${this.base(ref)}/v2/${ref.path}/${rest}`;
    const scope = `repository:${ref.path}:pull`;
    const tokenKey = `${host}|${scope}`;
    let auth = this.cachedToken(tokenKey);
    let res = await this.send(url, method, accept, auth, host);
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      const creds = this.opts.credentials?.get(ref.domain);
      if (challenge?.scheme === 'bearer' && challenge.params.realm) {
        auth = `Bearer ${await this.token(challenge.params, scope, tokenKey, creds, host, url)}`;
      } else if (challenge?.scheme === 'basic' && creds) {
        auth = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      } else {
        throw new RegistryError('unauthorized', `${host} wants credentials for ${ref.path} (${challenge?.scheme ?? 'no'} auth) and DOCKER_CONFIG has none for ${ref.domain}`);
      }
      res = await this.send(url, method, accept, auth, host);
      if (res.status === 401 || res.status === 403) {
        throw new RegistryError('unauthorized', `${host} refused ${creds ? `the credentials of ${creds.username}` : 'an anonymous token'} for ${ref.path} (HTTP ${res.status})`);
      }
    }
    this.noteRateLimit(host, res);
    if (res.status === 429) {
      const after = retryAfterS(res.headers.get('retry-after'), this.clock.now()) ?? 3600;
      this.blocked.set(host, { until: this.clock.now() + after * 1000, why: 'answered 429 Too Many Requests' });
      throw new RegistryError('rate_limited', `${host} answered 429 Too Many Requests; retry after ${after} s`, after);
    }
    if (res.status === 404) throw new RegistryError('not_found', `${what} not found in ${ref.path} on ${host}`);
    if (res.status === 403) throw new RegistryError('unauthorized', `${host} denied access to ${ref.path} (HTTP 403)`);
    if (!res.ok) throw new RegistryError('protocol', `${host} answered HTTP ${res.status} for ${what} of ${ref.path}`);
    return res;
  }

  /**
   * One request, tried up to three times (RETRY_POLICIES.registry) when the registry could not be
   * reached or answered 5xx: a registry restarting behind its proxy is not reported as down.
   */
  private async send(url: string, method: string, accept: string, auth: string | undefined, host: string): Promise<Response> {
    return withRetries(
      async () => {
        const res = await this.sendOnce(url, method, accept, auth, host);
        if (res.status >= 500) throw new ServerAnswer(res);
        return res;
      },
      { isRetryable: (err) => err instanceof ServerAnswer || (err instanceof RegistryError && err.kind === 'unreachable'), clock: this.clock, policy: RETRY_POLICIES.registry, maxAttempts: 3 },
    ).catch((err: unknown) => {
      if (err instanceof ServerAnswer) return err.res;
      throw err;
    });
  }

  private async sendOnce(url: string, method: string, accept: string, auth: string | undefined, host: string): Promise<Response> {
    try {
      return await this.fetch(url, {
        method,
        headers: { Accept: accept, 'User-Agent': 'homelab-control-plane', ...(auth ? { Authorization: auth } : {}) },
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 15_000),
        redirect: 'follow',
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      if ((err as Error).name === 'TimeoutError') throw new RegistryError('unreachable', `${host} did not answer within ${Math.round((this.opts.timeoutMs ?? 15_000) / 1000)} s`);
      const tlsHint = url.startsWith('https:') && /EPROTO|SSL|wrong version/i.test(String(why)) ? ' (a plain-HTTP registry? list it in INSECURE_REGISTRIES)' : '';
      throw new RegistryError('unreachable', `cannot reach ${host}: ${why}${tlsHint}`);
    }
  }

  private cachedToken(key: string): string | undefined {
    const t = this.tokens.get(key);
    return t && t.expiresAt > this.clock.now() ? `Bearer ${t.value}` : undefined;
  }

  /** A token from the realm the registry named, anonymous or with the credentials of DOCKER_CONFIG. */
  private async token(params: Record<string, string>, scope: string, key: string, creds: Credentials | undefined, host: string, registryUrl: string): Promise<string> {
    const realm = new URL(params.realm!);
    if (realm.protocol !== 'https:' && !registryUrl.startsWith('http:')) throw new RegistryError('insecure', `${host} sent its token realm over plain HTTP (${realm.origin}); refused`);
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', params.scope ?? scope);
    const headers: Record<string, string> = { 'User-Agent': 'homelab-control-plane' };
    if (creds) headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    let res: Response;
    try {
      res = await this.fetch(realm, { headers, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 15_000) });
    } catch (err) {
      throw new RegistryError('unreachable', `cannot reach ${host}'s token service ${realm.origin}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
    }
    if (res.status === 429) {
      const after = retryAfterS(res.headers.get('retry-after'), this.clock.now()) ?? 3600;
      this.blocked.set(host, { until: this.clock.now() + after * 1000, why: 'token service answered 429' });
      throw new RegistryError('rate_limited', `${host}'s token service answered 429; retry after ${after} s`, after);
    }
    if (res.status === 401 || res.status === 403) throw new RegistryError('unauthorized', `${host}'s token service refused ${creds ? `the credentials of ${creds.username}` : 'an anonymous request'} (HTTP ${res.status})`);
    if (!res.ok) throw new RegistryError('protocol', `${host}'s token service answered HTTP ${res.status}`);
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string; expires_in?: number };
    const value = body.token ?? body.access_token;
    if (!value) throw new RegistryError('protocol', `${host}'s token service answered without a token`);
    const ttlS = Math.max(30, Number(body.expires_in) || 60);
    this.tokens.set(key, { value, expiresAt: this.clock.now() + (ttlS - 10) * 1000 });
    return value;
  }

  /** Nothing remaining in the registry's window: it is not asked again until the window passes. */
  private noteRateLimit(host: string, res: Response): void {
    const rl = parseRateLimit(res.headers.get('ratelimit-remaining'));
    if (rl && rl.remaining <= 0) {
      const windowS = rl.windowS ?? 3600;
      this.blocked.set(host, { until: this.clock.now() + windowS * 1000, why: `says RateLimit-Remaining: 0 (window ${windowS} s)` });
    }
  }
}
