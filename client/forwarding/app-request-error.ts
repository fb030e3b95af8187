/** Why a request could not be replayed against the local app: app_unreachable or app_error. */

import { StandinError } from '#shared/errors';
import type { AppFailureCode } from '#shared/protocol/error-codes';

/** The app could not be reached, or broke before sending a response head. */
export class AppRequestError extends StandinError {
  override name = 'AppRequestError';
  constructor(
    readonly failure: AppFailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(failure, message, options);
  }
}

/** Error codes undici uses before a connection to the app exists. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'EADDRNOTAVAIL',
]);

/** Turns an error from talking to the app into app_unreachable (no connection) or app_error. */
export function classifyAppError(error: Error, target: URL): AppRequestError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (CONNECT_ERRORS.has(code)) {
    return new AppRequestError('app_unreachable', `could not connect to the local app at ${target.origin} (${code})`, { cause: error });
  }
  return new AppRequestError('app_error', `the local app at ${target.origin} failed before answering: ${error.message}`, { cause: error });
}
