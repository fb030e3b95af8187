import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { announceListeningAndExitWithParent } from './spawned-process';

/**
 * The local app every path of the benchmark ends at. Run as its own process
 * (`node dist/bench/target-app.js [port]`) so that its CPU is not counted for the hops in front of it.
 */

/** Paths the target app serves. */
export const TARGET_PATH = {
  /** GET: a small fixed body. */
  small: '/small',
  /** POST: reads the whole body, then answers with it. */
  echo: '/echo',
  /** GET ?bytes=N: streams N bytes. */
  download: '/download',
  /** POST: consumes the body and answers with its length as JSON `{ bytes }`. */
  upload: '/upload',
} as const;

/** The body of GET /small. */
export const SMALL_BODY = 'hello from the standin bench target\n';

/** Chunk size for generated streams: large enough that syscalls, not JS, dominate. */
const STREAM_CHUNK_BYTES = 64 * 1024;

function handleRequest(request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'http://target');
  if (request.method === 'GET' && url.pathname === TARGET_PATH.small) {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(SMALL_BODY) });
    response.end(SMALL_BODY);
  } else if (request.method === 'POST' && url.pathname === TARGET_PATH.echo) {
    void echoBody(request, response).catch(() => response.destroy());
  } else if (request.method === 'GET' && url.pathname === TARGET_PATH.download) {
    void streamBytes(response, Number(url.searchParams.get('bytes') ?? 0)).catch(() => response.destroy());
  } else if (request.method === 'POST' && url.pathname === TARGET_PATH.upload) {
    void countUpload(request, response).catch(() => response.destroy());
  } else {
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found\n');
  }
}

async function echoBody(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  response.end(body);
}

async function streamBytes(response: ServerResponse, totalBytes: number): Promise<void> {
  const chunk = Buffer.alloc(STREAM_CHUNK_BYTES, 'standin ');
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': totalBytes });
  let remaining = totalBytes;
  while (remaining > 0 && !response.destroyed) {
    const size = Math.min(remaining, chunk.length);
    remaining -= size;
    // Respect backpressure: a proxy that reads slowly must slow us down, not make us buffer.
    if (!response.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
      await drainedOrClosed(response);
    }
  }
  response.end();
}

/** Resolves on 'drain' or 'close', whichever comes first, and leaves no listener behind. */
function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

async function countUpload(request: IncomingMessage, response: ServerResponse): Promise<void> {
  let bytes = 0;
  for await (const chunk of request) bytes += (chunk as Buffer).length;
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ bytes }));
}

/** Creates the target app's server (not yet listening). */
export function createTargetApp(): Server {
  const server = createServer(handleRequest);
  server.keepAliveTimeout = 60_000;
  return server;
}

if (require.main === module) {
  const server = createTargetApp();
  server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('target app has no TCP address');
    announceListeningAndExitWithParent(address.port);
  });
}
