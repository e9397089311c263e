// The read-only routes serve bytes built once per change: ETags, 304 without rebuilding, gzip and
// brotli variants, and never a body older than the last change.
import { rename, writeFile } from 'node:fs/promises';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pickEncoding } from '../../src/api/representations.js';
import { apiFixture, restartDraft, type ApiFixture } from '../support/api-fixture.js';
import { removeDir, tempDir, waitFor } from '../support/helpers.js';

let dir: string;
let f: ApiFixture;
let generation = 0;
let now = Date.parse('2026-05-27T15:00:00.200Z');
let summaries = 0;

beforeEach(async () => {
  dir = await tempDir('hcp-api-cache-');
  generation = 0;
  summaries = 0;
  f = await apiFixture(dir, { generation: () => generation, now: () => now, onSummary: () => void summaries++ });
});
afterEach(async () => {
  await f.app.close();
  await removeDir(dir);
});

describe('bodies built once per change', () => {
  it('/summary: built off the request path — once per change, restamped each second by the publisher, never by a request; 304 for a matching ETag', async () => {
    const first = await f.app.inject('/summary');
    expect(first.statusCode).toBe(200);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    for (let i = 0; i < 20; i++) expect((await f.app.inject('/summary')).headers.etag).toBe(etag);
    expect(summaries).toBe(1);
    const cond = await f.app.inject({ url: '/summary', headers: { 'if-none-match': etag } });
    expect(cond.statusCode).toBe(304);
    expect(cond.body).toBe('');
    expect(summaries).toBe(1);

    // A change: the publisher gathers it within PUBLISH_MS; requests meanwhile get the last bytes.
    await f.actions.create(restartDraft('mosquitto'));
    generation++;
    const after = await waitFor(async () => {
      const r = await f.app.inject({ url: '/summary', headers: { 'if-none-match': etag } });
      return r.statusCode === 200 ? r : undefined;
    }, { what: 'the change published' });
    expect(after.json().actions.pending.map((a: { id: string }) => a.id)).toContain('container-restart-chelsty-infra-mosquitto');
    expect(summaries).toBe(2);
    // The next second: the publisher restamps the ages; nothing is gathered again.
    now += 1000;
    const later = await waitFor(async () => {
      const r = await f.app.inject('/summary');
      return r.json().generated_at === new Date(now).toISOString() ? r : undefined;
    }, { what: 'the ages restamped' });
    expect(later.json().nodes[0].last_seen_age_s).toBe(after.json().nodes[0].last_seen_age_s + 1);
    expect(later.headers.etag).not.toBe(after.headers.etag);
    expect(summaries).toBe(2);
    // Plain GETs, gzip and brotli alike: the variants were made by the publisher, one per build.
    const a = await f.app.inject({ url: '/summary', headers: { 'accept-encoding': 'br' } });
    const b = await f.app.inject({ url: '/summary', headers: { 'accept-encoding': 'gzip' } });
    expect(a.headers['content-encoding']).toBe('br');
    expect(b.headers['content-encoding']).toBe('gzip');
    expect(a.headers.etag).toBe(later.headers.etag);
  });

  it('/actions: cached per query and change; a new action shows after the change signal', async () => {
    const ids = async (url: string) => ((await f.app.inject(url)).json().actions as { id: string }[]).map((x) => x.id);
    expect(await ids('/actions')).toEqual([]);
    await f.actions.create(restartDraft('mosquitto'));
    expect(await ids('/actions')).toEqual([]); // no signal yet: the same bytes
    generation++;
    expect(await ids('/actions')).toEqual(['container-restart-chelsty-infra-mosquitto']);
    expect(await ids('/actions?state=completed')).toEqual([]);
  });

  it('world files: a new file (atomic rename) is a new body and ETag without any signal', async () => {
    const r1 = await f.app.inject('/world/services.json');
    const tmp = `${f.l.worldServices}.tmp`;
    await writeFile(tmp, '{"x/y":{}}\n');
    await rename(tmp, f.l.worldServices);
    const r2 = await f.app.inject('/world/services.json');
    expect(r2.body).toBe('{"x/y":{}}\n');
    expect(r2.headers.etag).not.toBe(r1.headers.etag);
    expect((await f.app.inject({ url: '/world/services.json', headers: { 'if-none-match': r2.headers.etag as string } })).statusCode).toBe(304);
    expect((await f.app.inject('/world/updates.json')).body).toBe('{}\n');
  });
});

describe('compression', () => {
  it('brotli or gzip as the client accepts, the same bytes inside, the same ETag; small bodies as they are', async () => {
    const plain = await f.app.inject('/ai-context');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/accept-encoding/);
    const br = await f.app.inject({ url: '/ai-context', headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(br.rawPayload).toString()).toBe(plain.body);
    const gz = await f.app.inject({ url: '/ai-context', headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(plain.body);
    expect(new Set([plain.headers.etag, br.headers.etag, gz.headers.etag]).size).toBe(1);
    expect(br.rawPayload.length).toBeLessThan(plain.rawPayload.length);
    const small = await f.app.inject({ url: '/actions', headers: { 'accept-encoding': 'br' } });
    expect(small.headers['content-encoding']).toBeUndefined();
  });

  it('Accept-Encoding: q=0 refuses, * accepts gzip', () => {
    expect(pickEncoding('br;q=0, gzip')).toBe('gzip');
    expect(pickEncoding('gzip;q=0')).toBeUndefined();
    expect(pickEncoding('*')).toBe('gzip');
    expect(pickEncoding('identity')).toBeUndefined();
    expect(pickEncoding(undefined)).toBeUndefined();
  });
});

describe('the page', () => {
  it('is the same bytes until a change, with a CSP that allows exactly its inline script and style by hash', async () => {
    const r1 = await f.app.inject('/');
    const r2 = await f.app.inject('/');
    expect(r2.body).toBe(r1.body);
    const csp = r1.headers['content-security-policy'] as string;
    const script = /<script>([\s\S]*?)<\/script>/.exec(r1.body)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(r1.body)![1]!;
    const hash = (t: string) => `'sha256-${createHash('sha256').update(t).digest('base64')}'`;
    expect(csp).toContain(`script-src ${hash(script)};`);
    expect(csp).toContain(`style-src ${hash(style)};`);
    expect(csp).not.toMatch(/unsafe|nonce/);
  });
});
