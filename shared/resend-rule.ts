/**
 * When a proxy may send a request again by itself: the upstream (the developer's app, or the
 * cluster app behind --fallback) closed the connection without a word of response, most often a
 * kept-alive connection it closed just as the request went out on it, so it never saw the
 * request. Resending is safe only for an idempotent method with no body that was already used
 * up (RFC 9110 §9.2.2, RFC 9112 §9.3.1); nginx does the same for its kept-alive upstream
 * connections. A POST is never sent twice: that could do twice what the user did once.
 */

/** Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Error codes (undici's and node:http's) of a connection closed before any response byte. */
const CLOSED_WITHOUT_ANSWER: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** Whether a request that failed with `errorCode` before any response may be sent once more. */
export function mayResendAfterClose(request: { method: string; hasBody: boolean }, errorCode: string | undefined): boolean {
  return !request.hasBody && IDEMPOTENT_METHODS.has(request.method) && errorCode !== undefined && CLOSED_WITHOUT_ANSWER.has(errorCode);
}
