/**
 * Whether the server is draining (SIGTERM): readiness, the tunnel ports and registration read it;
 * graceful-shutdown.ts sets it. Its own module so the server context does not import the
 * shutdown procedure, which itself needs the context.
 */
export class ServerDrain {
  draining = false;
}
