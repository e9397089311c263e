// Image references as Docker reads them (the grammar of github.com/distribution/reference):
// `[domain[:port]/]path[:tag][@digest]`, normalised the way `docker pull` does it — a short name
// lives on Docker Hub (`docker.io`) and a one-part Hub name under `library/`. Pure.

/** Where Docker Hub's registry API answers (docker.io is its name, not its API host). */
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface ImageRef {
  /** `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  domain: string;
  /** The repository inside the registry: `library/nginx`, `demo/app`. */
  path: string;
  /** `docker.io/library/nginx`: the name two references share when they name the same repository. */
  name: string;
  /** The tag given, or undefined (`docker pull` then means `latest`). */
  tag?: string;
  /** `sha256:…` when the reference pins a digest. */
  digest?: string;
}

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const NAME = `(?:(${DOMAIN})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)`;
const REFERENCE_RE = new RegExp(`^(${NAME.replace(/\((?!\?)/g, '(?:')})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const NAME_RE = new RegExp(`^${NAME}$`);
const HEX64_RE = /^[a-f0-9]{64}$/;
const NAME_TOTAL_MAX = 255;
/** The algorithms Docker accepts, with their hex lengths. */
const DIGEST_HEX: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export class ImageRefError extends Error {
  override name = 'ImageRefError';
}

/**
 * The normalised reference of `text` (what `docker pull text` would fetch), or an ImageRefError
 * saying why Docker would refuse it.
 */
export function parseImageRef(text: string): ImageRef {
  if (text === '') throw new ImageRefError('repository name must have at least one component');
  if (HEX64_RE.test(text)) throw new ImageRefError('invalid repository name (64 hex characters): an image id, not a reference');
  const m = REFERENCE_RE.exec(text);
  if (!m) {
    if (REFERENCE_RE.test(text.toLowerCase())) throw new ImageRefError('repository name must be lowercase');
    throw new ImageRefError('invalid reference format');
  }
  const [, full, tag, digest] = m;
  if (full!.length > NAME_TOTAL_MAX) throw new ImageRefError(`repository name must not be more than ${NAME_TOTAL_MAX} characters`);
  if (digest !== undefined) {
    const [alg, hex] = digest.split(':') as [string, string];
    if (DIGEST_HEX[alg] === undefined) throw new ImageRefError(`unsupported digest algorithm ${alg}`);
    if (hex.length !== DIGEST_HEX[alg]) throw new ImageRefError(`invalid ${alg} digest length`);
  }
  const { domain, path } = splitDomain(full!);
  if (!NAME_RE.test(`${domain}/${path}`)) throw new ImageRefError('invalid reference format');
  return { domain, path, name: `${domain}/${path}`, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest: digest.toLowerCase() } : {}) };
}

/**
 * Docker's rule: the first part is a registry only when it has a `.` or a `:`, is `localhost`, or
 * has an upper-case letter; otherwise the whole name is a Docker Hub repository.
 */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  const first = i === -1 ? '' : name.slice(0, i);
  let domain: string;
  let path: string;
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = 'docker.io';
    path = name;
  } else {
    domain = first;
    path = name.slice(i + 1);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (path.toLowerCase() !== path) throw new ImageRefError('repository name must be lowercase');
  return { domain, path };
}

/** The host the registry API of `domain` answers on. */
export function registryHost(domain: string): string {
  return domain === 'docker.io' ? DOCKER_HUB_API : domain;
}

/** `name:tag` as Docker shows it (`nginx:1.27`, `ghcr.io/x/y:2`): Hub's `library/` and domain left out. */
export function familiar(ref: Pick<ImageRef, 'domain' | 'path'>, tag?: string): string {
  const base = ref.domain === 'docker.io' ? ref.path.replace(/^library\//, '') : `${ref.domain}/${ref.path}`;
  return tag === undefined ? base : `${base}:${tag}`;
}

/** `sha256:0123456789ab…` → `0123456789ab` (what `docker images` shows). */
export function shortDigest(digest: string | undefined | null): string {
  if (!digest) return '?';
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

/** The digest of `name`'s repository among an image's RepoDigests (`repo@sha256:…`), if any. */
export function repoDigestFor(ref: Pick<ImageRef, 'name'>, repoDigests: readonly string[] | undefined): string | undefined {
  for (const entry of repoDigests ?? []) {
    try {
      const r = parseImageRef(entry);
      if (r.name === ref.name && r.digest) return r.digest;
    } catch {
      // an entry Docker itself would not write: not ours to compare
    }
  }
  return undefined;
}

/** True for a host Docker itself lets speak plain HTTP without a setting: loopback addresses. */
export function isLoopbackRegistry(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
