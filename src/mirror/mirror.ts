// The world mirror: copies another control plane's world files every few seconds (as piha's
// materializer does), with ETags, writing atomically and only on change. When the source is down
// or answers garbage, the last good copy stays; each change of state is logged once.
import { WorldNodesFile, WorldServicesFile } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import { MirrorFiles } from '../store/mirror-files.js';

const FILES = [
  { name: 'services.json', schema: WorldServicesFile },
  { name: 'nodes.json', schema: WorldNodesFile },
] as const;

export interface MirrorResult {
  file: string;
  outcome: 'updated' | 'unchanged' | 'not_modified' | 'failed';
  error?: string;
}

export class Mirror {
  private etags = new Map<string, string>();
  private failing = new Map<string, string>();
  readonly stats = { updated: 0, notModified: 0, failed: 0 };
  private readonly files: MirrorFiles;

  constructor(
    private readonly from: string,
    to: string,
    private readonly log: Logger,
  ) {
    this.files = new MirrorFiles(to);
  }

  async once(): Promise<MirrorResult[]> {
    await this.files.prepare();
    const out: MirrorResult[] = [];
    for (const f of FILES) out.push(await this.copy(f.name, f.schema));
    return out;
  }

  private async copy(name: string, schema: (typeof FILES)[number]['schema']): Promise<MirrorResult> {
    const url = `${this.from.replace(/\/+$/, '')}/world/${name}`;
    try {
      const etag = this.etags.get(name);
      const res = await fetch(url, { headers: etag ? { 'if-none-match': etag } : {}, signal: AbortSignal.timeout(10_000) });
      if (res.status === 304) {
        this.stats.notModified++;
        this.recovered(name);
        return { file: name, outcome: 'not_modified' };
      }
      if (!res.ok) throw new Error(`${url} answered ${res.status}`);
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new Error(`${url} answered something that is not JSON`);
      }
      const valid = schema.safeParse(parsed);
      if (!valid.success) throw new Error(`${url} answered JSON that is not a world file (${valid.error.issues[0]?.path.join('.')}: ${valid.error.issues[0]?.message})`);
      const newEtag = res.headers.get('etag');
      if (newEtag) this.etags.set(name, newEtag);
      this.recovered(name);
      if (!(await this.files.replace(name, text))) return { file: name, outcome: 'unchanged' };
      this.stats.updated++;
      return { file: name, outcome: 'updated' };
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const msg =
        err instanceof Error
          ? err.name === 'TimeoutError'
            ? `${url} did not answer within 10 s`
            : cause
              ? `${url}: ${cause.code ?? cause.message}`
              : err.message
          : String(err);
      this.stats.failed++;
      if (this.failing.get(name) !== msg) {
        this.log.warn({ url, error: msg }, `mirror of ${name} failing; the last good copy stays`);
        this.failing.set(name, msg);
      }
      return { file: name, outcome: 'failed', error: msg };
    }
  }

  private recovered(name: string): void {
    if (this.failing.delete(name)) this.log.info({ file: name }, `mirror of ${name} working again`);
  }
}
