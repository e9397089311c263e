// `control-plane run`: the control plane until a signal, through startControlPlane.
import { checkDirectories } from '../store/paths.js';
import { createLogger } from '../log.js';
import { startControlPlane } from '../main.js';
import { realClock } from '../time/clock.js';
import { parse } from './args.js';
import { config } from './context.js';
import { help } from './help.js';

export async function cmdRun(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parse('run', argv, {});
  if (values.help) return help('run');
  const cfg = config(env);
  checkDirectories(cfg);
  const log = createLogger(cfg.logLevel);
  if (cfg.telegram.token) {
    log.info({ chat: cfg.telegram.chatId, admins: cfg.telegram.adminIds.length }, 'Telegram is on');
  } else {
    log.info('Telegram is off: set TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID and TELEGRAM_ADMIN_IDS to approve actions from your phone (README: "Telegram in 3 steps")');
  }
  const note = nodeSupportNote(process.versions.node);
  if (note) log.warn({ node: process.versions.node }, note);
  // The product's own watchdog: a loop stuck in one pass ends the process (exit 1) for a restart.
  // And a leader lease lost (NATS): started again, it is a standby.
  const running = await startControlPlane(cfg, log, undefined, (why) => {
    log.fatal(`exiting (status 1) so that the container restarts: ${why}`);
    process.exit(1);
  });
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, 'stopping');
  // A second signal, or a stop that overruns its budget, ends the process at once.
  const force = (why: string) => {
    log.error(`${why}: exiting now`);
    process.exit(1);
  };
  process.once('SIGINT', () => force('second signal'));
  process.once('SIGTERM', () => force('second signal'));
  realClock.timer((cfg.shutdownGraceS + 5) * 1000, () => force(`stop took longer than SHUTDOWN_GRACE_S (${cfg.shutdownGraceS} s) + 5 s`));
  await running.stop();
  log.info('stopped');
  // Nothing may keep the process alive after a stop (a Telegram call still waiting for a server
  // that does not answer, an engine connection): the stop has recorded everything that matters.
  process.exit(0);
}

/** What the start says about the Node it runs on: Node 20 is past its end of life (2026-04-30). */
export function nodeSupportNote(version: string): string | undefined {
  const major = Number(version.split('.')[0]);
  if (major === 20) return `Node ${version} reached its end of life on 2026-04-30 (no more security fixes): run the control plane on Node 24 LTS, as the image does`;
  if (major < 20) return `Node ${version} is not supported: run the control plane on Node 24 LTS`;
  return undefined;
}
