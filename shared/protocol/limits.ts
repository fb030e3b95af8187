/**
 * The protocol's size, count and timing bounds, each written once for both sides: the sender
 * stays under them, the receiver refuses what goes over. Formats with a bound of their own keep it
 * beside their codec (MAX_BODY_CHUNK_BYTES in body-chunks.ts, the compare bounds in compare.ts).
 */

/** Largest JSON body the client API accepts (registration); anything bigger is refused with 413. */
export const MAX_CLIENT_API_BODY_BYTES = 16 * 1024;

/**
 * The one head-size limit: browser request heads on the tunnel ports and the main port (then
 * 431, `standin server --max-header-size` changes it), app response heads on the client (then
 * 502 app_error), and the client API connections. 64 KiB lets a site's single-sign-on cookies
 * through; JSON-encoded, such a head still fits one MAX_META_FRAME_BYTES frame.
 */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Largest metadata record (JSON) of one message (wire-frame.ts); a bigger one is refused. */
export const MAX_META_FRAME_BYTES = 256 * 1024;

/** How much longer than the poll timeout a poll may stay silent before either side calls it dead. */
export const POLL_GRACE_MS = 5_000;

/**
 * How long a client waits before registering again after the server said it is shutting down
 * (503 `server_shutdown`): long enough for a replacement to be listening, far shorter than backoff.
 */
export const SHUTDOWN_RECONNECT_DELAY_MS = 1_000;

/** Polls one session may hold open at once (the client keeps --concurrency); more are answered 429 too_many_polls. */
export const MAX_POLLS_PER_SESSION = 256;

/** Most interim responses passed on per request; the client drops the rest (an app may send 102 every second). */
export const MAX_INTERIM_RESPONSES = 16;

/** Most requests one poll answer hands over, and most responses one POST carries. */
export const MAX_BATCH_REQUESTS = 16;

/**
 * Most bytes of meta a batch (or a group of responses) gathers in its one frame, well under
 * MAX_META_FRAME_BYTES; what does not fit goes in the next one.
 */
export const MAX_BATCH_META_BYTES = 64 * 1024;

/** Largest body of a response that may travel in a group (bigger ones stream on their own POST). */
export const MAX_GROUPED_BODY_BYTES = 64 * 1024;
