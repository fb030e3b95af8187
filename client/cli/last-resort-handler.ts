/**
 * The last line of defence of `standin connect`: an exception nobody caught (or a rejection
 * nobody handled) is logged and the client keeps serving, instead of the whole tunnel going down
 * for every developer request because one request hit a bug.
 *
 * Why that is safe here: the client keeps no state that one request could leave half-changed
 * for the others. Each request lives in its own closures (its poll slot, its app request, its
 * respond POST); the poll slots loop on their own and catch their own failures; the server
 * bounds every request it handed over with its request timeout, so a request whose handler died
 * still gets its 504 and its slot's poll is replaced by the next one. What is not safe is a
 * fault that repeats, a sign of state that is broken for good: past MAX_FAULTS_PER_MINUTE the
 * client exits (status 1) rather than spin.
 */

import type { Logger } from '#shared/logger';

/** More uncaught faults than this within a minute end the process. */
export const MAX_FAULTS_PER_MINUTE = 20;

/** Installs the handlers; returns a function that removes them. */
export function keepRunningOnUncaughtErrors(logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  const recent: number[] = [];
  const onFault = (error: unknown, kind: string) => {
    const now = Date.now();
    recent.push(now);
    while (recent.length > 0 && recent[0] < now - 60_000) recent.shift();
    const message = error instanceof Error ? error.message : String(error);
    const stack = error instanceof Error ? error.stack : undefined;
    if (recent.length > MAX_FAULTS_PER_MINUTE) {
      logger.error('too many internal errors, stopping', { kind, error: message, stack, perMinute: recent.length });
      exit(1);
      return;
    }
    logger.error('internal error, the tunnel keeps running', { kind, error: message, stack });
  };
  const onException = (error: Error) => onFault(error, 'uncaughtException');
  const onRejection = (reason: unknown) => onFault(reason, 'unhandledRejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
