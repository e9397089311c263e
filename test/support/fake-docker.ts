// A Docker Engine API on a unix socket that answers what a container restart needs (inspect,
// restart) and the three prunes of disk_cleanup, and records every call (prunes with their
// query), so tests can count what the executor did to which container
// while the control plane runs, is killed and restarts in child processes.
import { createServer, type Server } from 'node:http';
import { rm } from 'node:fs/promises';

export interface DockerCall {
  method: string;
  container: string;
  op: string;
  at: number;
  /** The query string's `filters`, parsed (prunes). */
  filters?: Record<string, string[]>;
}

export class FakeDocker {
  readonly calls: DockerCall[] = [];
  /** Every request, reads included: `METHOD /path`. */
  readonly requests: string[] = [];
  private server: Server | undefined;
  private startedAt = new Map<string, string>();
  /** Containers that exist; any name when undefined. */
  constructor(
    readonly socketPath: string,
    private readonly exists: (name: string) => boolean = () => true,
  ) {}

  async start(): Promise<void> {
    await rm(this.socketPath, { force: true });
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://docker');
      this.requests.push(`${req.method} ${url.pathname}`);
      const m = /^(?:\/v[\d.]+)?\/containers\/([^/]+)\/(json|restart|start|stop)$/.exec(url.pathname);
      const send = (code: number, body?: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (/^(?:\/v[\d.]+)?\/_ping$/.test(url.pathname)) return send(200, 'OK');
      const prune = /^(?:\/v[\d.]+)?\/(containers|images|build)\/prune$/.exec(url.pathname);
      if (prune && req.method === 'POST') {
        const kind = prune[1]!;
        const filters = url.searchParams.get('filters');
        this.calls.push({ method: 'POST', container: '', op: `prune-${kind}`, at: Date.now(), ...(filters ? { filters: JSON.parse(filters) } : {}) });
        if (kind === 'containers') return send(200, { ContainersDeleted: ['c1', 'c2'], SpaceReclaimed: 2048 });
        if (kind === 'images') return send(200, { ImagesDeleted: [{ Deleted: 'sha256:1' }], SpaceReclaimed: 4096 });
        return send(200, { CachesDeleted: ['b1', 'b2', 'b3'], SpaceReclaimed: 8192 });
      }
      if (!m) return send(404, { message: `fake engine: no route ${req.method} ${url.pathname}` });
      const name = decodeURIComponent(m[1]!).replace(/^id-/, '');
      if (!this.exists(name)) return send(404, { message: `No such container: ${name}` });
      const op = m[2]!;
      if (req.method !== 'GET') this.calls.push({ method: req.method ?? '', container: name, op, at: Date.now() });
      if (op === 'json') {
        // Started long enough ago that no settle time is needed beyond the executor's own.
        const startedAt = this.startedAt.get(name) ?? '2026-01-01T00:00:00.000000000Z';
        return send(200, {
          Id: `id-${name}`,
          Name: `/${name}`,
          Config: { Image: 'fake', Labels: {} },
          State: { Status: 'running', Running: true, Restarting: false, StartedAt: startedAt, ExitCode: 0, Error: '' },
        });
      }
      if (op === 'restart' || op === 'start') this.startedAt.set(name, new Date().toISOString());
      res.writeHead(204);
      res.end();
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => resolve());
    });
  }

  /** Restart calls per container. */
  restarts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.calls) if (c.op === 'restart') out.set(c.container, (out.get(c.container) ?? 0) + 1);
    return out;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}
