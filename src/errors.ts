// The few errors the code tells apart, each carrying its data (docs/design/errors.md). In the
// spirit of controller-runtime's TerminalError and grammY's GrammyError: callers decide on the
// class or its `code`, never on the wording of a message.

/** What every error below shares: a `code` to decide on and the class's name in logs. */
abstract class CodedError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A setting that cannot work as given: the start exits 2 with one line naming the variable. */
export class ConfigError extends CodedError {
  readonly code = 'config';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** HOMELAB_ROOT's filesystem has no space (ENOSPC) or quota (EDQUOT) left for a write. */
export class StorageFullError extends CodedError {
  readonly code = 'storage_full';
  constructor(
    readonly path: string,
    readonly errno: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot write ${path}: no space left (${errno})`, options);
  }
}

/** A request that will never be done as asked (the executor's scope, an ingest refusing a push for good). */
export class RefusedError extends CodedError {
  readonly code = 'refused';
}

/** An operation did not finish within its deadline. */
export class DeadlineError extends CodedError {
  readonly code = 'deadline';
  constructor(
    message: string,
    readonly seconds: number,
  ) {
    super(message);
  }
}

/** A node's engine that did not answer a read within `ms`. */
export function engineDeadline(node: string, ms: number): DeadlineError {
  return new DeadlineError(`${node}'s Docker Engine did not answer within ${ms / 1000} s`, ms / 1000);
}

/**
 * A node's Docker Engine could not be reached or refused a call. `message` is the sentence for
 * the operator (what happened and what to check), `reason` the short cause (ENOENT, 404, …).
 */
export class EngineError extends CodedError {
  readonly code = 'engine';
  constructor(
    message: string,
    readonly reason: string,
    readonly transient: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A Docker operation that ran and did not work out (a container missing, one that did not start). */
export class OperationError extends CodedError {
  readonly code = 'operation';
}

/**
 * An image update that did not come up healthy and was put back on its old image. `digests` are
 * the remote digests that failed: not proposed again (docs/design/updates.md).
 */
export class RolledBackError extends OperationError {
  constructor(
    message: string,
    readonly digests: readonly string[],
    readonly rollbackFailed = false,
  ) {
    super(message);
  }
}

const STORAGE_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** Turns a filesystem error of a full disk into a StorageFullError; anything else is returned as it is. */
export function storageError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code && STORAGE_CODES.has(code) ? new StorageFullError(path, code, { cause: err }) : err;
}

/** The code of one of the errors above, or `error` for anything else. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (err instanceof CodedError) return err.code;
  if (typeof code === 'string' && STORAGE_CODES.has(code)) return 'storage_full';
  return 'error';
}

/**
 * Whether trying the same thing again soon can work. A terminal error (a refused request, a
 * setting that cannot work, an operation that ran and failed, an engine answer that will not
 * change) is not retried with backoff: the loop records it once and tries again on its interval,
 * after something changed (controller-runtime's TerminalError).
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof RefusedError || err instanceof OperationError || err instanceof ConfigError) return false;
  if (err instanceof EngineError) return err.transient;
  return true;
}

/**
 * What a TLS error code means for the operator, or undefined when it is not one. `peer` names the
 * server ("the engine"); `clientCheck` what to check when the server refused this client.
 */
export function explainTlsError(code: string | undefined, msg: string, peer: string, clientCheck: string): string | undefined {
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return `${peer}'s TLS certificate is not signed by a CA this side trusts (${code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `${peer}'s TLS certificate is for another name (${msg.replace(/^.*?:\s*/, '')})`;
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return `${peer}'s TLS certificate is not valid now (${code})`;
  }
  if (code?.startsWith('ERR_SSL_') && /ALERT/.test(code)) return `${peer} refused this client's TLS certificate (${code}): check ${clientCheck}`;
  return undefined;
}
