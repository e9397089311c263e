// An HTTP relay on a unix socket in front of the real Docker Engine, which can hold (then drop)
// or delay the requests a test names (e.g. the create of a redeploy's new container), so that a
// kill or a stop lands at a known step. Requests it does not name pass straight through.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rm } from 'node:fs/promises';

export type Gate = 'pass' | 'hold' | { delayMs: number };

export class EngineRelay {
  private server: Server | undefined;
  private held: { drop: () => void }[] = [];
  /** Requests seen, as `METHOD /path` without the API version. */
  readonly seen: string[] = [];

  constructor(
    readonly socketPath: string,
    private gate: (method: string, path: string) => Gate = () => 'pass',
    private readonly upstream = '/var/run/docker.sock',
  ) {}

  setGate(gate: (method: string, path: string) => Gate): void {
    this.gate = gate;
  }

  /** How many requests are being held now. */
  get holding(): number {
    return this.held.length;
  }

  /**
   * Drops every held request: it never reaches the engine (the process that sent it is gone).
   * Forwarded instead, a request whose body had arrived whole could still reach the engine after
   * its sender was killed, or not, depending on when the relay saw the connection close.
   */
  drop(): void {
    for (const h of this.held.splice(0)) h.drop();
  }

  async start(): Promise<void> {
    await rm(this.socketPath, { force: true });
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const pathOnly = (req.url ?? '/').replace(/^\/v[\d.]+/, '').split('?')[0]!;
    const method = req.method ?? 'GET';
    this.seen.push(`${method} ${pathOnly}`);
    const forward = () => {
      const up = request({ socketPath: this.upstream, method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    const g = this.gate(method, pathOnly);
    if (g === 'pass') return forward();
    req.pause();
    if (g === 'hold') {
      this.held.push({
        drop: () => {
          res.destroy();
          req.destroy();
        },
      });
      return;
    }
    setTimeout(forward, g.delayMs);
  }

  async stop(): Promise<void> {
    this.held = [];
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}
