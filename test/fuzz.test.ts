/**
 * Hostile-input fuzzing with fast-check and raw sockets against the real processes: generated
 * malformed requests at a tunnel port, the main port, the client API (with a valid token and
 * session) and the request inspector, and generated malformed responses from the local app,
 * while marker requests run alongside. After every target: no process exited, the client caught
 * no exception in its last-resort handler, every marker got its own token back (no answer
 * reached the wrong browser), and the markers keep answering; at the end, the RSS of server and
 * client stayed bounded.
 *
 * `npm test` runs FUZZ_RUNS cases per target (about a minute in all); `npm run fuzz` runs many
 * more (STANDIN_FUZZ_RUNS=<cases per target>). A failure prints fast-check's seed and the
 * shrunk input, to turn into a regression test.
 */

import fs from 'node:fs';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { startRawApp, type RawAnswer, type RawApp } from './helpers/raw-app';
import { startClientProcess, startServerProcess, type ClientProcess, type ServerProcess } from './helpers/processes';

/** Cases per target; each case is one connection, so this bounds the run. */
const FUZZ_RUNS = Number(process.env.STANDIN_FUZZ_RUNS ?? 40);

jest.setTimeout(60_000 + FUZZ_RUNS * 5 * 1_500);

const TOKEN = 'fuzz-token';

/** Most an RSS may grow over the whole run, MiB (a leak per case would show far beyond this). */
const MAX_RSS_GROWTH_MIB = 150;

/** The generated answer the raw app gives to /fuzz/<id>, set by the test just before the request. */
const appAnswers = new Map<string, RawAnswer>();

let app: RawApp;
let server: ServerProcess;
let client: ClientProcess;
let inspectorPort: number;
let session: { sessionId: string; port: number };
const startRss: Record<string, number> = {};
const markerFailures: string[] = [];
let markersAnswered = 0;
let stopMarkers = false;
let markerLoop: Promise<void>;

beforeAll(async () => {
  app = await startRawApp((_requestLine, target) => appAnswers.get(target));
  server = await startServerProcess(['--token', TOKEN, '--poll-timeout', '1s', '--request-timeout', '2s']);
  client = await startClientProcess(String(app.port), server.url, [
    '--token',
    TOKEN,
    '--name',
    'fuzzed',
    '--inspect',
    '0',
    '--concurrency',
    '16',
  ]);
  const ready = client.lines.find((line) => line.message === 'tunnel ready');
  inspectorPort = Number(new URL(String(ready?.inspectorUrl)).port);
  // A second tunnel registered by hand: its session id makes the fuzzed control calls get past auth.
  const registered = await rawExchange(
    server.mainPort,
    controlRequest(
      'POST',
      '/_standin/v1/tunnels',
      { 'content-type': 'application/json' },
      JSON.stringify({ name: 'fuzz-manual', target: 'http://localhost:1' }),
    ),
  );
  session = JSON.parse(registered.slice(registered.indexOf('\r\n\r\n') + 4)) as { sessionId: string; port: number };
  // Warm up before measuring memory.
  for (let i = 0; i < 20; i++) await marker();
  startRss.server = rssMiB(server.child.pid!);
  startRss.client = rssMiB(client.child.pid!);
  markerLoop = runMarkers();
});

afterAll(async () => {
  stopMarkers = true;
  await markerLoop;
  await client?.stop('SIGINT');
  await server?.stop();
  await app?.close();
});

afterEach(async () => {
  expect(server.child.exitCode).toBeNull();
  expect(client.child.exitCode).toBeNull();
  // The client's last-resort handler keeps it running through an exception nothing else caught;
  // any such exception is a bug to fix (it found undici's paused-parser assertion).
  expect(client.lines.filter((line) => String(line.message).startsWith('internal error'))).toEqual([]);
  // The marker still answers right after the hostile cases (a failure is recorded with what came back).
  await marker();
  expect(markerFailures).toEqual([]);
});

/** Whether both processes are still running: checked after every case, so the first input that ends one is reported. */
function bothAlive(): boolean {
  return (
    server.child.exitCode === null && server.child.signalCode === null && client.child.exitCode === null && client.child.signalCode === null
  );
}

/**
 * fast-check settings: a case that ended a process leaves nothing to shrink against (every later
 * case fails too), so the first failing input is reported as it is, with its seed.
 */
const RUN = { numRuns: FUZZ_RUNS, endOnFailure: true } as const;

/** Markers one after another for the whole run, each with its own token. */
async function runMarkers(): Promise<void> {
  while (!stopMarkers) {
    if (await marker()) markersAnswered++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One marker request through the tunnel; false (and a recorded failure) unless its own token comes back. */
async function marker(): Promise<boolean> {
  const token = randomUUID();
  const answer = await rawExchange(client.port, `GET /marker/${token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 5_000);
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  if (answer.startsWith('HTTP/1.1 200 ') && body === token) return true;
  markerFailures.push(`marker ${token} got ${JSON.stringify(answer.slice(0, 200))}`);
  return false;
}

/** Sends bytes, returns what came back until the peer closed or `timeoutMs` passed. */
function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 1_500): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      if (text.length < 1_000_000) text += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}

function controlRequest(method: string, target: string, headers: Record<string, string>, body = ''): string {
  const lines = Object.entries({
    host: 'x',
    authorization: `Bearer ${TOKEN}`,
    'content-length': String(Buffer.byteLength(body, 'latin1')),
    connection: 'close',
    ...headers,
  }).map(([name, value]) => `${name}: ${value}`);
  return `${method} ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

// ---- generators ----

/** Characters that break parsers: controls, separators, quotes, Latin-1, non-Latin-1, DEL. */
const nastyChar = fc.oneof(
  { weight: 6, arbitrary: fc.char() },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '\r',
      '\n',
      '\r\n',
      '\x00',
      '\t',
      ' ',
      ':',
      '"',
      '\\',
      '%',
      '\x7f',
      '\xe9',
      '\xff',
      '\u3002',
      '\ud83d\ude00',
      '{',
      '}',
      ',',
      ';',
      '/',
      '?',
      '#',
    ),
  },
);
const nastyString = (maxLength: number) => fc.stringOf(nastyChar, { maxLength });
const token = fc.stringOf(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-_.!#$%&*+^`|~0123456789'.split('')), {
  minLength: 1,
  maxLength: 20,
});

// Mostly well-formed parts, so that most cases get past the HTTP parser to standin's own code.
const method = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS') },
  { weight: 1, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'CONNECT', 'TRACE', 'PRI', 'get', 'G ET', '') },
  { weight: 1, arbitrary: token },
);
const requestTarget = fc.oneof(
  fc.constantFrom('/', '*', '/_standin/select/fuzzed'),
  fc
    .tuple(
      fc.constantFrom('/_standin/select/fuzzed?to=/', '/_standin/select/fuzzed?to=', '/_standin/select/', '/?', '/api/requests/'),
      nastyString(20),
    )
    .map(([prefix, rest]) => prefix + encodeURI(rest)),
  fc.constantFrom(
    '/',
    '*',
    '//',
    '/..',
    '/%',
    '/%00',
    '/%E3%80%82',
    'http://example.com/',
    'http://[::1]:1/x',
    'example.com:443',
    '/_standin/select/fuzzed?to=/%E3%80%82',
    '/_standin/select/none',
    '/_standin/v1/tunnels',
    '/_standin/status',
    '/_standin/healthz',
    '/_standin/dashboard',
  ),
  nastyString(40).map((path) => `/${path}`),
  fc.string({ maxLength: 3000 }).map((path) => `/${path}`),
);
const version = fc.oneof(
  { weight: 5, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/1.1 extra', 'http/1.1', '') },
);
const header = fc.oneof(
  fc.tuple(token, nastyString(60)),
  fc.tuple(nastyString(20), nastyString(20)),
  fc.tuple(
    fc.constantFrom(
      'Content-Length',
      'Transfer-Encoding',
      'Host',
      'Expect',
      'Connection',
      'Upgrade',
      'X-Forwarded-Host',
      'X-Forwarded-Proto',
      'X-Standin-Tunnel',
      'X-Standin-Meta',
      'X-Standin-Session',
      'Cookie',
      'Trailer',
      'TE',
    ),
    fc.oneof(
      nastyString(30),
      fc.constantFrom(
        'chunked',
        '0',
        '-1',
        '99999999999999999999',
        '5, 6',
        'close',
        'websocket',
        '100-continue',
        'standin-tunnel=fuzzed',
        'fuzzed',
        'javascript:',
      ),
    ),
  ),
  fc.tuple(
    fc.constant('X-Big'),
    fc.integer({ min: 1_000, max: 80_000 }).map((length) => '"'.repeat(length)),
  ),
);
const requestBody = fc.oneof(
  fc.constant(''),
  nastyString(200),
  fc.constant('0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'),
  fc.constant('5\r\nhello\r\n0\r\n\r\n'),
);

/** One malformed (or occasionally valid) HTTP/1.1 request as raw bytes. */
const rawRequest = fc
  .tuple(
    method,
    requestTarget,
    version,
    fc.array(header, { maxLength: 8 }),
    requestBody,
    fc.oneof({ weight: 5, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r') }),
  )
  .map(([m, target, v, headers, body, eol]) => {
    const head = [`${m} ${target} ${v}`.trimEnd(), ...headers.map(([name, value]) => `${name}: ${value}`)].join(eol);
    return Buffer.from(`${head}${eol}${eol}${body}`, 'utf8');
  });

/** A malformed (or occasionally valid) response of the local app, with what the app does after it. */
const appResponse = fc
  .tuple(
    fc.oneof(
      fc.constantFrom(
        'HTTP/1.1 200 OK',
        'HTTP/1.1 204 No Content',
        'HTTP/1.1 304 Not Modified',
        'HTTP/1.1 100 Continue',
        'HTTP/1.1 101 Switching Protocols',
        'HTTP/1.1 103 Early Hints',
        'HTTP/1.0 200 OK',
        'HTTP/1.1 999 Odd',
        'HTTP/1.1 299 Whatever',
        'HTTP/1.1 200',
        'HTTP/2 200',
        'garbage',
        '',
      ),
      fc.tuple(fc.integer({ min: 0, max: 1200 }), nastyString(30)).map(([status, reason]) => `HTTP/1.1 ${status} ${reason}`),
    ),
    fc.array(
      fc.oneof(
        fc.tuple(token, nastyString(40)),
        fc.tuple(
          fc.constantFrom(
            'Content-Length',
            'Transfer-Encoding',
            'Connection',
            'Location',
            'Set-Cookie',
            'Trailer',
            'Content-Type',
            'Upgrade',
          ),
          fc.oneof(
            nastyString(20),
            fc.constantFrom('0', '5', '100000', '-1', 'chunked', 'close', 'http://localhost:1/x', 'text/event-stream', '2, 3'),
          ),
        ),
        fc.tuple(
          fc.constant('X-Big'),
          fc.integer({ min: 1_000, max: 70_000 }).map((length) => 'b'.repeat(length)),
        ),
      ),
      { maxLength: 8 },
    ),
    fc.oneof(
      fc.constant(''),
      nastyString(300),
      fc.constant('5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n'),
      fc.constant('zz\r\n'),
      fc.constant('HTTP/1.1 200 OK\r\nSet-Cookie: stolen=1\r\nContent-Length: 6\r\n\r\nhacked'),
    ),
    fc.constantFrom<RawAnswer['then']>('end', 'reset', 'keep-alive', 'hang'),
  )
  .map(([statusLine, headers, body, then]): RawAnswer => ({
    bytes: `${statusLine}\r\n${headers.map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n${body}`,
    then,
  }));

// ---- properties ----

test('malformed requests at a tunnel port', async () => {
  await fc.assert(
    fc.asyncProperty(rawRequest, async (bytes) => {
      await rawExchange(client.port, bytes);
      return bothAlive();
    }),
    RUN,
  );
});

test('malformed requests at the main port (tunnel selectors and control paths)', async () => {
  const withSelector = fc
    .tuple(rawRequest, fc.constantFrom('', 'Host: fuzzed.x\r\n', 'Cookie: standin-tunnel=fuzzed\r\n', 'X-Standin-Tunnel: fuzzed\r\n'))
    .map(([bytes, selector]) => {
      const text = bytes.toString('latin1');
      const firstLineEnd = text.indexOf('\n');
      return firstLineEnd < 0 ? bytes : Buffer.from(text.slice(0, firstLineEnd + 1) + selector + text.slice(firstLineEnd + 1), 'latin1');
    });
  await fc.assert(
    fc.asyncProperty(withSelector, async (bytes) => {
      await rawExchange(server.mainPort, bytes);
      return bothAlive();
    }),
    RUN,
  );
});

test('malformed calls to the client API with a valid token and session', async () => {
  const metaValue = fc.oneof(
    nastyString(200),
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    fc
      .record(
        {
          kind: fc.constantFrom('response', 'failure', 'responses', 'probe-result', 'request', 'batch'),
          status: fc.oneof(fc.integer({ min: -5, max: 1100 }), fc.string()),
          headers: fc.array(fc.oneof(nastyString(30), fc.integer()), { maxLength: 6 }),
          trailers: fc.array(nastyString(20), { maxLength: 4 }),
          statusMessage: nastyString(30),
          code: fc.string(),
          message: fc.string(),
          responses: fc.array(
            fc.record({
              id: fc.uuid(),
              kind: fc.constant('response'),
              status: fc.constant(200),
              headers: fc.constant([]),
              bodyBytes: fc.integer({ min: -1, max: 70_000 }),
            }),
            { maxLength: 3 },
          ),
        },
        { requiredKeys: [] },
      )
      .map((value) => JSON.stringify(value)),
  );
  const call = fc.tuple(
    fc.constantFrom('GET', 'POST', 'DELETE', 'PUT'),
    fc.oneof(
      fc.constantFrom(
        '/_standin/v1/tunnels',
        '/_standin/v1/tunnels/fuzz-manual/poll',
        '/_standin/v1/tunnels/fuzz-manual/responses',
        '/_standin/v1/tunnels/fuzzed/poll',
      ),
      fc.uuid().map((id) => `/_standin/v1/tunnels/fuzz-manual/responses/${id}`),
      nastyString(30).map((path) => `/_standin/v1/tunnels/${path}`),
    ),
    metaValue,
    fc.oneof(
      fc.constant(''),
      nastyString(300),
      fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    ),
  );
  await fc.assert(
    fc.asyncProperty(call, async ([m, target, meta, body]) => {
      // Never release the manual tunnel's session: later cases need it to get past the session check.
      const safeMethod = m === 'DELETE' && target === '/_standin/v1/tunnels/fuzz-manual' ? 'GET' : m;
      const headers = {
        'x-standin-session': session.sessionId,
        'x-standin-meta': meta.replace(/[\r\n]/g, ' '),
        'x-standin-not-a-poll': '1',
      };
      await rawExchange(server.mainPort, controlRequest(safeMethod, target.replace(/[\r\n ]/g, '_'), headers, body), 1_500);
      return bothAlive();
    }),
    RUN,
  );
});

test('malformed requests at the request inspector', async () => {
  const inspectorRequest = fc.oneof(
    rawRequest,
    fc
      .tuple(
        fc.constantFrom('GET', 'POST'),
        fc.oneof(
          fc.constantFrom('/', '/api/requests', '/api/events', '/api/requests/x/replay'),
          nastyString(40).map((path) => `/api/requests/${path}`),
        ),
        fc.constantFrom('127.0.0.1', 'localhost', 'evil.example', ''),
        fc.constantFrom('', 'http://127.0.0.1', 'http://evil.example'),
        nastyString(200),
      )
      .map(([m, target, host, origin, body]) =>
        Buffer.from(
          `${m} ${target.replace(/[\r\n ]/g, '_')} HTTP/1.1\r\nHost: ${host}:${inspectorPort}\r\n${origin ? `Origin: ${origin}\r\n` : ''}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          'utf8',
        ),
      ),
  );
  await fc.assert(
    fc.asyncProperty(inspectorRequest, async (bytes) => {
      await rawExchange(inspectorPort, bytes, 1_000);
      return bothAlive();
    }),
    RUN,
  );
});

test('malformed responses from the local app', async () => {
  await fc.assert(
    fc.asyncProperty(appResponse, fc.constantFrom('GET', 'HEAD', 'POST'), async (answer, m) => {
      const id = `/fuzz/${randomUUID()}`;
      appAnswers.set(id, answer);
      const body = m === 'POST' ? 'Content-Length: 5\r\n\r\nhello' : '\r\n';
      await rawExchange(client.port, `${m} ${id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${body}`, 3_000);
      appAnswers.delete(id);
      return bothAlive();
    }),
    RUN,
  );
});

test('memory stays bounded and the markers kept answering throughout', () => {
  const grewServer = rssMiB(server.child.pid!) - startRss.server;
  const grewClient = rssMiB(client.child.pid!) - startRss.client;
  console.log(
    `fuzz: ${FUZZ_RUNS} cases per target, 5 targets; ${markersAnswered} markers answered alongside; RSS growth server ${grewServer.toFixed(1)} MiB, client ${grewClient.toFixed(1)} MiB`,
  );
  expect(grewServer).toBeLessThan(MAX_RSS_GROWTH_MIB);
  expect(grewClient).toBeLessThan(MAX_RSS_GROWTH_MIB);
  expect(markersAnswered).toBeGreaterThan(0);
});
