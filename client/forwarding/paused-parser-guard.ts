/**
 * A guard around one undici 7 bug (nodejs/undici#5360; fixed in undici 8 only, which needs Node
 * 22): when a response that ends with its connection (HTTP/1.0, `Connection: close`, or a body
 * delimited by the close) is paused under backpressure and the peer closes the connection then,
 * undici's socket 'end' (or 'error', or 'close') handler throws an assertion. The exception
 * escapes to the process, and the connection is left with its request running for ever: the
 * request never ends, and the pool has one connection less, until every request waits.
 *
 * forward-request.ts never pauses on a response's last bytes, so a complete response does not
 * get here; what does is a response the peer cut short. The guard catches the assertion where
 * undici raises it and records an error on the connection, so that undici fails the running
 * request as broken (which it is) and frees the connection. Drop it with undici 8.
 */

import assert from 'node:assert';
import type { Socket } from 'node:net';
import { buildConnector } from 'undici';

/** What the request fails with: the peer closed the connection in the middle of a response. */
class PeerClosedMidResponseError extends Error {
  override name = 'PeerClosedMidResponseError';
  constructor() {
    super('the connection closed in the middle of the response');
  }
}

/** undici's connector with `options`, whose sockets carry the guard. */
export function guardedConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  return (target, callback) =>
    connect(target, (...args) => {
      if (args[1]) guardSocket(args[1]);
      callback(...args);
    });
}

/** Catches the assertion in the socket's event handlers and records an error instead. */
function guardSocket(socket: Socket): void {
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  const guardedEmit = (event: string | symbol, ...args: unknown[]): boolean => {
    try {
      return emit(event, ...args);
    } catch (error) {
      if (!isPausedParserAssertion(error)) throw error;
      // undici's handler stopped before it noted an error. Noting one now makes the close skip
      // the step that asserts and fail the running request; a 'close' that threw runs again.
      emit('error', new PeerClosedMidResponseError());
      socket.destroy();
      if (event === 'close') emit('close', ...args);
      return true;
    }
  };
  socket.emit = guardedEmit as Socket['emit'];
}

function isPausedParserAssertion(error: unknown): boolean {
  return error instanceof assert.AssertionError && error.message.includes('!this.paused');
}
