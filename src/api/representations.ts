// Responses served as bytes (docs/operator/http-api.md "Caching"): each read-only route's body is
// serialised once per change of what it shows — a new world publish, an action or update change
// (the generation) — and at most once a second for the ages it prints; with its ETag and, on first
// demand, a gzip and a brotli variant. A request whose If-None-Match names the current ETag gets
// 304 without the body being built or compressed again.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** Bodies smaller than this are sent as they are: compressing them saves nothing. */
const COMPRESS_MIN_BYTES = 1024;

export interface Representation {
  body: Buffer;
  etag: string;
  type: string;
  variants: { gzip?: Promise<Buffer>; br?: Promise<Buffer> };
}

export function etagOf(buf: Buffer): string {
  return `"${createHash('sha1').update(buf).digest('base64url')}"`;
}

export function representation(body: string | Buffer, type: string): Representation {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  return { body: buf, etag: etagOf(buf), type, variants: {} };
}

/** The encoding to send: brotli, then gzip, when the client accepts it (q > 0); else none. */
export function pickEncoding(accept: string | undefined): 'br' | 'gzip' | undefined {
  if (!accept) return undefined;
  const ok = new Set<string>();
  for (const part of accept.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((x) => x !== undefined);
    if (name && (q === undefined || Number(q) > 0)) ok.add(name.trim());
  }
  if (ok.has('br')) return 'br';
  if (ok.has('gzip') || ok.has('*')) return 'gzip';
  return undefined;
}

export class RepresentationCache {
  private entries = new Map<string, { key: string; rep: Promise<Representation> }>();

  /** At most this many routes (an /actions query string is one) are kept. */
  constructor(private readonly maxEntries = 64) {}

  /**
   * The representation of `route` for `version` (what its body depends on), built by `build` once
   * per version and shared by concurrent requests. `version` undefined: built for this request only.
   */
  get(route: string, version: string | undefined, build: () => Promise<Representation> | Representation): Promise<Representation> {
    if (version === undefined) {
      return Promise.resolve().then(build);
    }
    const key = version;
    const cur = this.entries.get(route);
    if (cur && cur.key === key) return cur.rep;
    const rep = Promise.resolve().then(build);
    if (!cur && this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(route, { key, rep });
    rep.catch(() => {
      if (this.entries.get(route)?.rep === rep) this.entries.delete(route);
    });
    return rep;
  }

  /** Sends `rep` as the answer to `req`: 304 when the client has it, else the best-compressed bytes. */
  async send(req: FastifyRequest, reply: FastifyReply, rep: Representation, cacheControl = 'no-cache'): Promise<FastifyReply> {
    reply.header('etag', rep.etag).header('cache-control', cacheControl).header('vary', 'accept-encoding').type(rep.type);
    const match = req.headers['if-none-match'];
    if (match && match.split(',').some((t) => t.trim().replace(/^W\//, '') === rep.etag)) {
      return reply.code(304).send();
    }
    const encoding = rep.body.length >= COMPRESS_MIN_BYTES ? pickEncoding(req.headers['accept-encoding']) : undefined;
    if (!encoding) return reply.send(rep.body);
    let variant = rep.variants[encoding];
    if (!variant) {
      variant = encoding === 'br' ? brotliAsync(rep.body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 4, [zlib.BROTLI_PARAM_SIZE_HINT]: rep.body.length } }) : gzipAsync(rep.body, { level: 6 });
      rep.variants[encoding] = variant;
    }
    return reply.header('content-encoding', encoding).send(await variant);
  }
}
