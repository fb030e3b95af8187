/**
 * Tells a standin server's registration answer from anything else a wrong --server may send
 * (a web page, a login redirect, another API's 404). Without this the client took such an
 * answer for a passing outage and retried forever.
 */

import type { IncomingHttpHeaders } from 'node:http';
import { NotAStandinServerError, type StandinError } from '#shared/errors';
import type { RegisterResponse } from '#shared/protocol/messages';

/** Statuses a proxy in front of a starting or restarting standin server answers with: worth retrying. */
const PASSING_OUTAGE_STATUSES = new Set([408, 429, 502, 503, 504]);

/** The body of a registration answer, read once. */
interface AnswerBody {
  text(): Promise<string>;
}

/**
 * Returns the RegisterResponse of a 201 from a standin server; throws NotAStandinServerError when
 * the answer is not one of ours, or the error `toError` makes of one of our error answers.
 */
export async function checkRegisterAnswer(
  server: URL,
  status: number,
  headers: IncomingHttpHeaders,
  body: AnswerBody,
  toError: (status: number, body: AnswerBody) => Promise<StandinError>,
): Promise<RegisterResponse> {
  const text = await body.text().catch(() => '');
  const json = parseJson(text);
  if (status === 201) {
    if (isRegisterResponse(json)) return json;
    throw notOurs(server, `answered the registration with HTTP 201 but not a standin registration (${describeContentType(headers)})`);
  }
  const replay = { text: () => Promise.resolve(text) };
  if (isOurErrorBody(json) || PASSING_OUTAGE_STATUSES.has(status)) throw await toError(status, replay);
  if (status >= 300 && status < 400 && typeof headers.location === 'string') {
    throw notOurs(
      server,
      `redirects the registration to ${headers.location.slice(0, 200)}: if that is the standin server, use it in --server`,
    );
  }
  throw notOurs(server, `answered the registration with HTTP ${status} (${describeContentType(headers)})`);
}

function notOurs(server: URL, what: string): NotAStandinServerError {
  return new NotAStandinServerError(`${server.origin} is not a standin server: it ${what}. Check --server (or STANDIN_SERVER).`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Our error answers are JSON `{ error: "<snake_case code>", message }` (ErrorBody in shared/protocol/error-codes.ts). */
function isOurErrorBody(value: unknown): boolean {
  const body = value as { error?: unknown; message?: unknown } | null;
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof body.error === 'string' &&
    /^[a-z_]+$/.test(body.error) &&
    typeof body.message === 'string'
  );
}

function isRegisterResponse(value: unknown): value is RegisterResponse {
  const body = value as Partial<RegisterResponse> | null;
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof body.name === 'string' &&
    typeof body.sessionId === 'string' &&
    typeof body.expiresAt === 'string' &&
    typeof body.pollTimeoutMs === 'number'
  );
}

function describeContentType(headers: IncomingHttpHeaders): string {
  const type = headers['content-type'];
  return type ? String(type).split(';')[0].slice(0, 60) : 'no content type';
}
