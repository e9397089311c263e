// The registry client against a scripted HTTP stand-in, for the answers the real test registry
// cannot give: a bearer-token challenge as Docker Hub and GHCR send, 429 with Retry-After,
// RateLimit-Remaining, a HEAD without Docker-Content-Digest, a multi-arch index.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseImageRef } from '../../src/domain/image-ref.js';
import { freePort } from '../support/registry.js';
import { FakeClock, realClock, type Clock } from '../../src/time/clock.js';
import { MANIFEST_ACCEPT, parseChallenge, parseRateLimit, RegistryClient, RegistryError, retryAfterS } from '../../src/docker/registry.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
/** Real time, with the waits between attempts taken at once. */
const instantWaits: Clock = { ...realClock, sleep: () => Promise.resolve() };
type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

let server: Server | undefined;
const seen: { method: string; path: string; auth?: string; accept?: string }[] = [];

async function standIn(handler: Handler): Promise<string> {
  seen.length = 0;
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    seen.push({ method: req.method!, path: url.pathname + url.search, auth: req.headers.authorization, accept: req.headers.accept });
    handler(req, res, url);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return `127.0.0.1:${(server!.address() as { port: number }).port}`;
}

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

function manifestOk(res: ServerResponse, digest = DIGEST, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'Docker-Content-Digest': digest, 'Content-Type': 'application/vnd.oci.image.index.v1+json', ...headers });
  res.end();
}

describe('registry client: auth as Docker Hub and GHCR ask for it', () => {
  it('anonymous bearer token: challenge → token with service and scope → HEAD with the token; the token is reused', async () => {
    let host = '';
    host = await standIn((req, res, url) => {
      if (url.pathname === '/token') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ token: 'tok-1', expires_in: 300 }));
      }
      if (req.headers.authorization !== 'Bearer tok-1') {
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${host}/token",service="registry.test",scope="repository:library/app:pull"` });
        return res.end();
      }
      manifestOk(res);
    });
    const client = new RegistryClient();
    const ref = parseImageRef(`${host}/library/app:stable`);
    expect(await client.tagDigest(ref, 'stable')).toEqual({ digest: DIGEST });
    expect(await client.tagDigest(ref, 'stable')).toEqual({ digest: DIGEST });
    expect(seen.map((s) => s.method + ' ' + s.path)).toEqual([
      'HEAD /v2/library/app/manifests/stable',
      'GET /token?service=registry.test&scope=repository%3Alibrary%2Fapp%3Apull',
      'HEAD /v2/library/app/manifests/stable',
      'HEAD /v2/library/app/manifests/stable',
    ]);
    expect(seen[0]!.accept).toBe(MANIFEST_ACCEPT);
    expect(MANIFEST_ACCEPT).toContain('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(MANIFEST_ACCEPT).toContain('application/vnd.oci.image.index.v1+json');
    expect(MANIFEST_ACCEPT).toContain('application/vnd.docker.distribution.manifest.v2+json');
  });

  it('a token service that wants credentials gets those of DOCKER_CONFIG; wrong or none is one clear error', async () => {
    let host = '';
    host = await standIn((req, res, url) => {
      if (url.pathname === '/token') {
        const ok = req.headers.authorization === `Basic ${Buffer.from('me:pw').toString('base64')}`;
        res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
        return res.end(ok ? JSON.stringify({ access_token: 'tok-2' }) : '{}');
      }
      if (req.headers.authorization !== 'Bearer tok-2') {
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${host}/token",service="ghcr.test"` });
        return res.end();
      }
      manifestOk(res);
    });
    const ref = parseImageRef(`${host}/me/private:1`);
    const good = new RegistryClient({ credentials: new Map([[host, { username: 'me', password: 'pw' }]]) });
    expect((await good.tagDigest(ref, '1')).digest).toBe(DIGEST);
    const anon = new RegistryClient();
    await expect(anon.tagDigest(ref, '1')).rejects.toMatchObject({ kind: 'unauthorized', message: expect.stringMatching(/token service refused an anonymous request \(HTTP 401\)/) });
    const wrong = new RegistryClient({ credentials: new Map([[host, { username: 'me', password: 'nope' }]]) });
    await expect(wrong.tagDigest(ref, '1')).rejects.toMatchObject({ kind: 'unauthorized', message: expect.stringMatching(/refused the credentials of me/) });
  });
});

describe('registry client: rate limits', () => {
  it('429 with Retry-After: a clear error, and the registry is not asked again until then', async () => {
    const clock = new FakeClock('2026-05-27T15:00:00Z');
    const host = await standIn((_req, res) => {
      res.writeHead(429, { 'Retry-After': '120' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS"}]}');
    });
    const client = new RegistryClient({ clock });
    const ref = parseImageRef(`${host}/library/app:stable`);
    const err = await client.tagDigest(ref, 'stable').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ kind: 'rate_limited', retryAfterS: 120, message: expect.stringMatching(/429 Too Many Requests; retry after 120 s/) });
    await expect(client.tagDigest(parseImageRef(`${host}/other/app:1`), '1')).rejects.toMatchObject({ kind: 'rate_limited', message: expect.stringMatching(/not asked again for 120 s/) });
    expect(seen).toHaveLength(1);
    await clock.advance(121_000);
    await expect(client.tagDigest(ref, 'stable')).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(seen).toHaveLength(2);
  });

  it('RateLimit-Remaining: 0 → this answer is used, and the registry rests for its window', async () => {
    const clock = new FakeClock(1_000_000);
    const host = await standIn((_req, res) => manifestOk(res, DIGEST, { 'RateLimit-Limit': '100;w=21600', 'RateLimit-Remaining': '0;w=21600' }));
    const client = new RegistryClient({ clock });
    const ref = parseImageRef(`${host}/library/app:stable`);
    expect(await client.tagDigest(ref, 'stable')).toEqual({ digest: DIGEST, remaining: 0 });
    await expect(client.tagDigest(ref, 'stable')).rejects.toMatchObject({ kind: 'rate_limited', message: expect.stringMatching(/RateLimit-Remaining: 0/) });
    expect(seen).toHaveLength(1);
    await clock.advance(21_601_000);
    expect((await client.tagDigest(ref, 'stable')).digest).toBe(DIGEST);
  });

  it('parses Retry-After (seconds or a date), RateLimit-Remaining and challenges', () => {
    const now = Date.parse('2026-05-27T15:00:00Z');
    expect(retryAfterS('30', now)).toBe(30);
    expect(retryAfterS('Wed, 27 May 2026 15:01:00 GMT', now)).toBe(60);
    expect(retryAfterS('soon', now)).toBeUndefined();
    expect(parseRateLimit('76;w=21600')).toEqual({ remaining: 76, windowS: 21600 });
    expect(parseRateLimit('5')).toEqual({ remaining: 5 });
    expect(parseRateLimit(null)).toBeUndefined();
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
  });
});

describe('registry client: answers of other shapes', () => {
  it('404 and 5xx are clear errors; a HEAD without Docker-Content-Digest falls back to hashing the manifest', async () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: DIGEST } });
    const host = await standIn((req, res, url) => {
      if (url.pathname.endsWith('/missing')) {
        res.writeHead(404);
        return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      }
      if (url.pathname.endsWith('/broken')) {
        res.writeHead(503);
        return res.end();
      }
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    const client = new RegistryClient({ clock: instantWaits });
    const ref = parseImageRef(`${host}/a/b:x`);
    await expect(client.tagDigest(ref, 'missing')).rejects.toMatchObject({ kind: 'not_found', message: `tag missing not found in a/b on ${host}` });
    await expect(client.tagDigest(ref, 'broken')).rejects.toMatchObject({ kind: 'protocol', message: expect.stringMatching(/answered HTTP 503/) });
    // A 5xx is asked three times in all (RETRY_POLICIES.registry) before it is reported; a 404 once.
    expect(seen.filter((s) => s.path.endsWith('/broken'))).toHaveLength(3);
    expect(seen.filter((s) => s.path.endsWith('/missing'))).toHaveLength(1);
    const r = await client.tagDigest(ref, 'x');
    expect(r.digest).toBe(`sha256:${createHash('sha256').update(body).digest('hex')}`);
  });

  it('details: from an index, the manifest of the platform asked for, then its config: created, version, source', async () => {
    const arm = `sha256:${'b'.repeat(64)}`;
    const amd = `sha256:${'c'.repeat(64)}`;
    const cfg = `sha256:${'d'.repeat(64)}`;
    const host = await standIn((_req, res, url) => {
      const json = (o: unknown) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      if (url.pathname.endsWith(`/manifests/${DIGEST}`)) return json({ manifests: [{ digest: amd, platform: { os: 'linux', architecture: 'amd64' } }, { digest: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }] });
      if (url.pathname.endsWith(`/manifests/${arm}`)) return json({ config: { digest: cfg } });
      if (url.pathname.endsWith(`/blobs/${cfg}`)) return json({ created: '2026-05-20T10:00:00Z', config: { Labels: { 'org.opencontainers.image.version': '2.1.0', 'org.opencontainers.image.source': 'https://github.com/koenkk/zigbee2mqtt' } } });
      res.writeHead(404);
      res.end();
    });
    const client = new RegistryClient();
    const d = await client.details(parseImageRef(`${host}/koenkk/z2m:latest`), DIGEST, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(d).toEqual({ created: '2026-05-20T10:00:00Z', version: '2.1.0', source: 'https://github.com/koenkk/zigbee2mqtt' });
    expect(seen.map((s) => s.path.split('/').slice(-2)[0])).toEqual(['manifests', 'manifests', 'blobs']);
  });

  it('HTTPS unless the registry is on loopback or listed in INSECURE_REGISTRIES; Docker Hub answers on registry-1.docker.io', async () => {
    const urls: string[] = [];
    const fake = (async (url: string | URL) => {
      urls.push(String(url));
      return new Response(null, { status: 200, headers: { 'Docker-Content-Digest': DIGEST } });
    }) as typeof fetch;
    await new RegistryClient({ fetch: fake }).tagDigest(parseImageRef('registry.lan:5000/x/y:1'), '1');
    await new RegistryClient({ fetch: fake, insecure: ['registry.lan:5000'] }).tagDigest(parseImageRef('registry.lan:5000/x/y:1'), '1');
    await new RegistryClient({ fetch: fake }).tagDigest(parseImageRef('nginx:1.27'), '1.27');
    await new RegistryClient({ fetch: fake }).tagDigest(parseImageRef('localhost:5000/x:1'), '1');
    expect(urls).toEqual([
      'https://registry.lan:5000/v2/x/y/manifests/1',
      'http://registry.lan:5000/v2/x/y/manifests/1',
      'https://registry-1.docker.io/v2/library/nginx/manifests/1.27',
      'http://localhost:5000/v2/x/manifests/1',
    ]);
  });

  it('an unreachable registry is one clear error', async () => {
    const port = await freePort();
    const client = new RegistryClient({ timeoutMs: 2000, clock: instantWaits });
    await expect(client.tagDigest(parseImageRef(`127.0.0.1:${port}/x:1`), '1')).rejects.toMatchObject({ kind: 'unreachable', message: `cannot reach 127.0.0.1:${port}: ECONNREFUSED` });
  });

  it('a registry that hangs up once or answers 503 once is asked again after RETRY_POLICIES.registry, and the answer used', async () => {
    let calls = 0;
    const host = await standIn((req, res) => {
      calls++;
      if (calls === 1) return req.socket.destroy();
      if (calls === 2) {
        res.writeHead(503);
        return res.end();
      }
      manifestOk(res);
    });
    const clock = new FakeClock();
    const client = new RegistryClient({ clock });
    const result = client.tagDigest(parseImageRef(`${host}/library/app:stable`), 'stable');
    // Each retry waits on the clock: nothing is asked again until it moves.
    const deadline = Date.now() + 20_000;
    while (clock.pending === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(calls).toBe(1);
    await clock.advance(1_500);
    while (clock.pending === 0 && calls < 3 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(calls).toBe(2);
    await clock.advance(3_000);
    expect(await result).toEqual({ digest: DIGEST });
    expect(calls).toBe(3);
  });
});
