// The root logger and per-component children. Secrets are censored by path and by pattern, so a
// bot token can't leak through an error message either.
import { pino, type Logger } from 'pino';
import { redact } from './domain/redact.js';

export type { Logger };

/** Replaces anything shaped like a secret (a bot token, a password=…): the one redaction function. */
export function scrubSecrets(text: string): string {
  return redact(text);
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['token', '*.token', 'config.telegram.token', 'headers.authorization'], censor: '<redacted>' },
      hooks: {
        // Scrubs message strings and error texts: errors from HTTP clients quote their URL.
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => {
              if (typeof a === 'string') return scrubSecrets(a);
              if (a instanceof Error) return scrubError(a);
              if (a && typeof a === 'object' && 'err' in a && (a as { err: unknown }).err instanceof Error) {
                return { ...(a as object), err: scrubError((a as { err: Error }).err) };
              }
              return a;
            }) as Parameters<typeof method>,
          );
        },
      },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}

function scrubError(err: Error): { type: string; message: string; stack?: string; code?: unknown } {
  return {
    type: err.name,
    message: scrubSecrets(err.message),
    stack: err.stack ? scrubSecrets(err.stack) : undefined,
    code: (err as NodeJS.ErrnoException).code,
  };
}
