/**
 * The last line of defence around node:http listeners. Express catches a throw in its own
 * handlers, but the raw `request` and `upgrade` listeners of our servers do not: there a throw
 * (a header value Node refuses, a bug) would end the process and every tunnel with it. Wrapped,
 * it costs only the request that caused it: 500 when nothing was sent yet, else the connection.
 * Each route still validates its input; this only keeps a missed case from taking the server down.
 */

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '#shared/logger';
import { replyError } from '../http/json-reply';

/** An `upgrade` listener of a node:http server. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** `listener`, with a synchronous throw answered 500 (or the connection cut) and logged. */
export function containRequestErrors(listener: RequestListener, logger: Logger): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    try {
      listener(req, res);
    } catch (error) {
      logFailure(logger, req, error);
      if (res.headersSent) res.destroy();
      else replyError(res, 500, 'internal_error', 'internal error in the standin server; see its log');
      // Whatever the browser still sends is not wanted.
      req.resume();
    }
  };
}

/** `listener`, with a synchronous throw ending only that connection, logged. */
export function containUpgradeErrors(listener: UpgradeListener, logger: Logger): UpgradeListener {
  return (req, socket, head) => {
    try {
      listener(req, socket, head);
    } catch (error) {
      logFailure(logger, req, error);
      socket.destroy();
    }
  };
}

function logFailure(logger: Logger, req: IncomingMessage, error: unknown): void {
  const { message, stack } = error instanceof Error ? error : { message: String(error), stack: undefined };
  logger.error('request handler failed', { method: req.method, path: req.url?.split('?')[0].slice(0, 200), error: message, stack });
}
