// One connection to NATS (docs/operator/scale-out.md), kept for the life of the process: the
// first attempt at start tells refused credentials (exit 2, naming the setting) from a server
// merely away (started anyway, tried again with backoff, said on /healthz); after that the client
// reconnects by itself and the link says whether it is up.
import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { shownServer, type NatsSettings } from '../config-nats.js';
import { ConfigError, explainTlsError } from '../errors.js';
import type { Logger } from '../log.js';
import { backoffDelay, RETRY_POLICIES } from '../time/backoff.js';
import type { Clock } from '../time/clock.js';

export type LinkState = 'connecting' | 'up' | 'unreachable';

/** The client options for these settings (credentials read from their files). */
export async function natsOptions(s: NatsSettings, name: string): Promise<ConnectionOptions> {
  // A user and password (or a token) in a server's URL are given as options: the client does not read them there.
  const auth = s.servers.map((x) => new URL(x)).find((u) => u.username);
  const servers = s.servers.map((x) => x.replace(/\/\/[^@/]*@/, '//'));
  const opts: ConnectionOptions = { servers, name, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: 5000, pingInterval: 10_000 };
  if (auth?.password) Object.assign(opts, { user: decodeURIComponent(auth.username), pass: decodeURIComponent(auth.password) });
  else if (auth) opts.token = decodeURIComponent(auth.username);
  if (s.creds) opts.authenticator = credsAuthenticator(await readFile(s.creds));
  else if (s.nkey) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode((await readFile(s.nkey, 'utf8')).trim()));
  if (s.tls) opts.tls = { ...(s.tls.ca ? { caFile: s.tls.ca } : {}), ...(s.tls.cert && s.tls.key ? { certFile: s.tls.cert, keyFile: s.tls.key } : {}) };
  return opts;
}

/** The setting a refusal of the credentials names: the one that holds them. */
function credentialsSetting(s: NatsSettings): string {
  return s.creds ? 'NATS_CREDS' : s.nkey ? 'NATS_NKEY' : 'NATS_URL';
}

/** Whether a connect error is the server refusing who we are (not a server away). */
export function refusedCredentials(err: unknown): boolean {
  const code = String((err as { code?: unknown }).code ?? '');
  return /AUTHORIZATION_VIOLATION|AUTHENTICATION_EXPIRED|AUTHENTICATION_TIMEOUT|ACCOUNT_EXPIRED/i.test(code) || /authorization violation/i.test(String((err as Error).message));
}

/**
 * A TLS failure in words and the setting that would mend it (the server's certificate: NATS_TLS_CA;
 * this side's refused: NATS_TLS_CERT), or undefined for any other error.
 */
export function tlsProblem(err: unknown): { setting: string; why: string } | undefined {
  const e = err as { code?: string; message?: string; chainedError?: { code?: string; message?: string }; cause?: { code?: string; message?: string } };
  const inner = e.chainedError ?? e.cause ?? e;
  const code = inner.code ?? e.code;
  const why = explainTlsError(code, inner.message ?? e.message ?? '', 'the NATS server', 'NATS_TLS_CERT and NATS_TLS_KEY');
  return why ? { setting: code?.startsWith('ERR_SSL_') ? 'NATS_TLS_CERT' : 'NATS_TLS_CA', why } : undefined;
}

export class NatsLink {
  state: LinkState = 'connecting';
  /** Why it is not up, in words. */
  problem: string | undefined;
  private nc: NatsConnection | undefined;
  private failures = 0;
  private cancelRetry: (() => void) | undefined;
  private stopped = false;
  private readonly ready: ((nc: NatsConnection) => void)[] = [];

  constructor(
    private readonly settings: NatsSettings,
    private readonly name: string,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  private shown(): string {
    return this.settings.servers.map(shownServer).join(', ');
  }

  /** `fn` runs once connected (at once if it is). */
  onReady(fn: (nc: NatsConnection) => void): void {
    this.ready.push(fn);
    if (this.nc) fn(this.nc);
  }

  /**
   * The first attempt: connected, or started with the server away (tried again in the background).
   * Refused credentials or an unusable TLS file are a ConfigError naming the setting.
   */
  async start(): Promise<void> {
    const opts = await natsOptions(this.settings, this.name).catch((err: Error) => {
      throw new ConfigError(this.settings.creds ? 'NATS_CREDS' : this.settings.nkey ? 'NATS_NKEY' : 'NATS_TLS_CA', `cannot be used: ${err.message}`);
    });
    await this.attempt(opts, true);
  }

  private async attempt(opts: ConnectionOptions, first: boolean): Promise<void> {
    if (this.stopped) return;
    try {
      this.connected(await connect(opts));
    } catch (err) {
      if (refusedCredentials(err)) {
        const why = `NATS refused the credentials (${(err as Error).message})`;
        if (first) throw new ConfigError(credentialsSetting(this.settings), why);
        this.log.error({ servers: this.shown() }, `${why}; trying again`);
      }
      // A certificate not trusted does not mend itself: said at start like refused credentials.
      const tls = tlsProblem(err);
      if (tls && first) throw new ConfigError(tls.setting, tls.why);
      this.failures++;
      this.state = 'unreachable';
      this.problem = `nats unreachable (${this.shown()}: ${tls?.why ?? (err as Error).message})`;
      if (this.failures === 1) this.log.warn({ servers: this.shown() }, `${this.problem}; trying again in the background`);
      this.cancelRetry = this.clock.timer(backoffDelay(this.failures, RETRY_POLICIES.agentPush), () => void this.attempt(opts, false));
    }
  }

  private connected(nc: NatsConnection): void {
    if (this.stopped) return void nc.close();
    this.nc = nc;
    this.state = 'up';
    this.problem = undefined;
    this.log.info({ server: nc.getServer(), failures: this.failures }, `connected to NATS at ${nc.getServer()}`);
    this.failures = 0;
    void this.follow(nc);
    for (const fn of this.ready) fn(nc);
  }

  /** The client reconnects by itself: the link says what it is doing. */
  private async follow(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.state = 'unreachable';
        this.problem = `nats unreachable (lost ${String(s.data)}; reconnecting)`;
        this.log.warn(this.problem);
      } else if (s.type === 'reconnect') {
        this.state = 'up';
        this.problem = undefined;
        this.log.info(`reconnected to NATS at ${String(s.data)}`);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    const nc = this.nc;
    this.nc = undefined;
    // Connected: what is in flight (acknowledgements) is sent first; away: nothing can be.
    if (this.state === 'up') await nc?.drain().catch(() => nc.close());
    else await nc?.close();
  }
}
