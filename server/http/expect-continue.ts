/**
 * `Expect: 100-continue` (RFC 9110 §10.1.1): a browser that sends it waits for `100 Continue`
 * before uploading its body. Node would send the 100 at once; standin sends it only when the
 * body has somewhere to go: when a client takes the request (or it goes to --fallback, or to
 * the control plane). A request that fails before that (tunnel offline, queue full, timeout) is
 * answered without the browser uploading anything. The app itself never sees `Expect`: the
 * 100 on this hop is standin's, and the app's own early answer (401, 413) still reaches the
 * browser as the final response.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

const awaitingContinue = new WeakSet<IncomingMessage>();

/** Marks `req` as a request whose browser waits for 100 Continue (the listener's 'checkContinue'). */
export function deferContinue(req: IncomingMessage): void {
  awaitingContinue.add(req);
}

/** Sends the 100 Continue `req` waits for, once; nothing when it waits for none or the answer has begun. */
export function sendContinueIfAwaited(req: IncomingMessage, res: ServerResponse): void {
  if (!awaitingContinue.delete(req) || res.headersSent || res.destroyed) return;
  res.writeContinue();
}
