import { setMaxListeners } from 'node:events';
import { Agent, request } from 'undici';
import { HEADER } from '#shared/protocol/headers';
import { PATHS } from '#shared/protocol/paths';
import { PROTOCOL_VERSION } from '#shared/protocol/version';
import { encodeFrame } from '#shared/protocol/wire-frame';

/**
 * IDLE TUNNELS: 1,000 registered tunnels with 8 parked polls each, spoken with raw undici
 * requests (no client processes), to measure what a busy server costs at rest.
 */
const PROTOCOL = {
  registerPath: PATHS.register,
  pollPath: PATHS.poll,
  respondPath: PATHS.respond,
  sessionHeader: HEADER.session,
  protocolHeader: HEADER.protocol,
} as const;

/** Registrations sent at once; enough to be quick, few enough not to look like a flood. */
const REGISTRATION_CONCURRENCY = 50;

/** Pause before an idle poll slot retries after an unexpected answer, so a broken server is not hammered. */
const RETRY_DELAY_MS = 1_000;

/** What registerIdleTunnels leaves running, and what it saw while running. */
export interface IdleTunnels {
  readonly tunnels: number;
  readonly registrationMs: number;
  /** Polls currently held open by the server. */
  openPolls(): number;
  /** Polls answered 204 (timed out empty) so far: the cost of staying idle. */
  emptyPollAnswers(): number;
  /** Requests the server pushed to these idle tunnels (health probes), answered with an empty 200. */
  requestsAnswered(): number;
  /** Unexpected answers and errors so far, with the last one. */
  failures(): { count: number; last: string | null };
  /** Ends every poll and closes the connections. */
  stop(): Promise<void>;
}

interface Registration {
  readonly name: string;
  readonly sessionId: string;
}

/**
 * Registers `count` tunnels named idle-<n> on the server at `serverUrl` and keeps `pollsEach`
 * polls open for each, re-polling whenever the server answers, until stop() is called.
 */
export async function registerIdleTunnels(serverUrl: string, count: number, pollsEach: number): Promise<IdleTunnels> {
  // One connection per parked poll, plus some for registration; undici's default pool would
  // otherwise queue polls behind each other on a few sockets.
  const agent = new Agent({ connections: count * pollsEach + REGISTRATION_CONCURRENCY, headersTimeout: 0, bodyTimeout: 0 });
  const startedAt = performance.now();
  const registrations = await registerAll(agent, serverUrl, count);
  const registrationMs = performance.now() - startedAt;
  const stopping = new AbortController();
  // Every poll listens on this one signal; without this Node warns about a listener leak.
  setMaxListeners(count * pollsEach + 1, stopping.signal);
  const counters = { open: 0, empty: 0, answered: 0, failures: 0, lastFailure: null as string | null };
  const slots = registrations.flatMap((registration) =>
    Array.from({ length: pollsEach }, () => keepPolling(agent, serverUrl, registration, stopping.signal, counters)),
  );
  return {
    tunnels: registrations.length,
    registrationMs,
    openPolls: () => counters.open,
    emptyPollAnswers: () => counters.empty,
    requestsAnswered: () => counters.answered,
    failures: () => ({ count: counters.failures, last: counters.lastFailure }),
    async stop() {
      stopping.abort();
      await Promise.allSettled(slots);
      await agent.destroy();
    },
  };
}

async function registerAll(agent: Agent, serverUrl: string, count: number): Promise<Registration[]> {
  const names = Array.from({ length: count }, (_, index) => `idle-${String(index).padStart(4, '0')}`);
  const registrations: Registration[] = [];
  for (let start = 0; start < names.length; start += REGISTRATION_CONCURRENCY) {
    const batch = names.slice(start, start + REGISTRATION_CONCURRENCY);
    registrations.push(...(await Promise.all(batch.map((name) => registerTunnel(agent, serverUrl, name)))));
  }
  return registrations;
}

async function registerTunnel(agent: Agent, serverUrl: string, name: string): Promise<Registration> {
  const response = await request(`${serverUrl}${PROTOCOL.registerPath}`, {
    dispatcher: agent,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, target: 'http://127.0.0.1:9', version: 'bench', protocol: PROTOCOL_VERSION }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.body.text();
  if (response.statusCode !== 201) {
    throw new Error(`registering idle tunnel ${name} failed: ${response.statusCode} ${text.slice(0, 200)}`);
  }
  const answer = JSON.parse(text) as { sessionId?: unknown };
  if (typeof answer.sessionId !== 'string') throw new Error(`registration of ${name} returned no sessionId: ${text.slice(0, 200)}`);
  return { name, sessionId: answer.sessionId };
}

interface PollCounters {
  open: number;
  empty: number;
  answered: number;
  failures: number;
  lastFailure: string | null;
}

/**
 * One poll slot: poll; on 204 poll again; on 200 (a request, e.g. a health probe) answer it with
 * an empty 200, which the server holds as the next poll. Stops on abort.
 */
async function keepPolling(
  agent: Agent,
  serverUrl: string,
  registration: Registration,
  signal: AbortSignal,
  counters: PollCounters,
): Promise<void> {
  let requestId: string | null = null;
  while (!signal.aborted) {
    counters.open++;
    try {
      const answer = await pollOrRespond(agent, serverUrl, registration, requestId, signal);
      requestId = null;
      if (answer.statusCode === 204) {
        counters.empty++;
      } else if (answer.statusCode === 200 && answer.requestId !== null) {
        counters.answered++;
        requestId = answer.requestId;
      } else {
        throw new Error(`poll of ${registration.name} answered ${answer.statusCode} ${answer.text.slice(0, 200)}`);
      }
    } catch (error) {
      if (signal.aborted) break;
      counters.failures++;
      counters.lastFailure = (error as Error).message;
      requestId = null;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    } finally {
      counters.open--;
    }
  }
}

async function pollOrRespond(
  agent: Agent,
  serverUrl: string,
  registration: Registration,
  requestId: string | null,
  signal: AbortSignal,
): Promise<{ statusCode: number; requestId: string | null; text: string }> {
  const headers: Record<string, string> = {
    [PROTOCOL.sessionHeader]: registration.sessionId,
    [PROTOCOL.protocolHeader]: String(PROTOCOL_VERSION),
  };
  const body =
    requestId === null ? null : encodeFrame(JSON.stringify({ kind: 'response', status: 200, headers: ['content-length', '0'], appMs: 0 }));
  const response = await request(
    `${serverUrl}${requestId === null ? PROTOCOL.pollPath(registration.name) : PROTOCOL.respondPath(registration.name, requestId)}`,
    { dispatcher: agent, method: requestId === null ? 'GET' : 'POST', headers, body, signal },
  );
  const text = await response.body.text();
  // A 200 starts with the metadata frame, `<length>\n<JSON>`; nothing follows it here.
  const deliveredId = response.statusCode === 200 ? readRequestId(text.slice(text.indexOf('\n') + 1)) : null;
  return { statusCode: response.statusCode, requestId: deliveredId, text };
}

function readRequestId(meta: string): string | null {
  try {
    const parsed = JSON.parse(meta) as { id?: unknown };
    return typeof parsed.id === 'string' ? parsed.id : null;
  } catch {
    return null;
  }
}
