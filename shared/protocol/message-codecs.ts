/**
 * Readers and writers of the protocol's messages (messages.ts). Every reader takes untrusted JSON
 * and either returns a well-typed message or throws ProtocolError saying what is wrong; fields
 * are bounded and unknown ones dropped, so nothing a peer sends reaches the other side unchecked.
 */

import { ProtocolError } from '../errors';
import { expectInteger, expectList, expectObject, expectRawHeaders, expectString, parseJson } from './json-checks';
import { MAX_BATCH_REQUESTS, MAX_GROUPED_BODY_BYTES } from './limits';
import type {
  InterimResponseMeta,
  PollMeta,
  ProbeResultMeta,
  RawHeaders,
  RegisterRequest,
  RequestMeta,
  ResponseGroupMeta,
  ResponseMeta,
  AppResponseMeta,
  TrailersMeta,
} from './messages';
import { NO_TUNNEL_NAME, REQUEST_ID_PATTERN, TUNNEL_NAME_PATTERN } from './paths';
import { expectProtocolVersion } from './version';

/** Parses a RegisterRequest from untrusted JSON, or throws ProtocolError saying what is wrong. */
export function parseRegisterRequest(value: unknown): RegisterRequest {
  const body = expectObject(value, 'registration body');
  const name = expectString(body.name, 'name');
  if (!TUNNEL_NAME_PATTERN.test(name)) {
    throw new ProtocolError(
      `name "${name.slice(0, 80)}" is not a DNS label: use 1-63 of a-z, 0-9 and "-", not starting or ending with "-"`,
    );
  }
  if (name === NO_TUNNEL_NAME)
    throw new ProtocolError(`name "${NO_TUNNEL_NAME}" is reserved: /_standin/select/${NO_TUNNEL_NAME} clears the selection`);
  const request: RegisterRequest = { name, target: expectString(body.target, 'target').slice(0, 200) };
  if (body.port !== undefined && body.port !== null) request.port = expectInteger(body.port, 'port', 1, 65535);
  if (body.ttlMs !== undefined && body.ttlMs !== null) request.ttlMs = expectInteger(body.ttlMs, 'ttlMs', 1, Number.MAX_SAFE_INTEGER);
  if (body.version !== undefined) request.version = expectString(body.version, 'version').slice(0, 40);
  if (body.owner !== undefined) request.owner = expectString(body.owner, 'owner').slice(0, 120);
  request.protocol = expectProtocolVersion(body.protocol, body.version);
  if (body.claimKey !== undefined && body.claimKey !== null) request.claimKey = expectString(body.claimKey, 'claimKey').slice(0, 200);
  if (body.private === true) request.private = true;
  if (body.checkAtStart === true) request.checkAtStart = true;
  return request;
}

/** Parses the frame of a 200 poll answer (a request, a batch or a probe), or throws ProtocolError. */
export function parsePollMeta(json: string): PollMeta {
  const meta = expectObject(parseJson(json), 'poll meta');
  if (meta.kind === 'probe') return { kind: 'probe', id: expectString(meta.id, 'id') };
  if (meta.kind === 'batch') {
    const requests = expectList(meta.requests, 'requests', MAX_BATCH_REQUESTS).map((item) =>
      toRequestMeta(expectObject(item, 'batched request')),
    );
    if (requests.some((request) => request.hasBody || request.upgrade))
      throw new ProtocolError('a batch carries only bodiless, non-upgrade requests');
    return { kind: 'batch', requests };
  }
  return toRequestMeta(meta);
}

/**
 * The meta of a batch, built from the requests' own encoded metas (each encoded once,
 * when the server measures whether it still fits).
 */
export function encodeBatchMeta(encodedRequests: string[]): string {
  return `{"kind":"batch","requests":[${encodedRequests.join(',')}]}`;
}

/** Parses the frame of a poll answer that must be a request, or throws ProtocolError. */
export function parseRequestMeta(json: string): RequestMeta {
  return toRequestMeta(expectObject(parseJson(json), 'request meta'));
}

/** Parses the frame of a respond POST that answers a probe, or throws ProtocolError. */
export function parseProbeResultMeta(json: string): ProbeResultMeta {
  const meta = expectObject(parseJson(json), 'probe result meta');
  if (meta.kind !== 'probe-result') throw new ProtocolError(`meta kind must be "probe-result", got ${JSON.stringify(meta.kind)}`);
  const appMs = typeof meta.appMs === 'number' && Number.isFinite(meta.appMs) ? Math.max(0, meta.appMs) : 0;
  const result: ProbeResultMeta = { kind: 'probe-result', ok: meta.ok === true, appMs };
  if (meta.error !== undefined) result.error = expectString(meta.error, 'error').slice(0, 300);
  return result;
}

function toRequestMeta(meta: Record<string, unknown>): RequestMeta {
  if (meta.kind !== 'request') throw new ProtocolError(`unexpected meta kind ${JSON.stringify(meta.kind)}`);
  return {
    kind: 'request',
    id: expectString(meta.id, 'id'),
    method: expectString(meta.method, 'method'),
    url: expectString(meta.url, 'url'),
    headers: expectRawHeaders(meta.headers),
    hasBody: meta.hasBody === true,
    ...(typeof meta.queuedMs === 'number' && Number.isFinite(meta.queuedMs) ? { queuedMs: Math.max(0, meta.queuedMs) } : {}),
    ...(meta.upgrade === true ? { upgrade: true } : {}),
  };
}

/** Parses the frame of a respond POST, or throws ProtocolError saying what is wrong. */
export function parseResponseMeta(json: string): ResponseMeta {
  return respondedMeta(expectObject(parseJson(json), 'response meta'));
}

/** Parses a frame of a respond POST that may also be an interim response, or throws ProtocolError. */
export function parseRespondFrame(json: string): ResponseMeta | InterimResponseMeta {
  const meta = expectObject(parseJson(json), 'response meta');
  if (meta.kind !== 'interim') return respondedMeta(meta);
  const interim: InterimResponseMeta = {
    kind: 'interim',
    status: expectInteger(meta.status, 'status', 102, 199),
    headers: expectRawHeaders(meta.headers),
  };
  if (isReasonPhrase(meta.statusMessage)) interim.statusMessage = meta.statusMessage;
  return interim;
}

/** The meta of a response on its own POST: only such a one (never one in a group) may have its body in chunks. */
function respondedMeta(meta: Record<string, unknown>): ResponseMeta {
  const response = toResponseMeta(meta);
  if (response.kind === 'response' && meta.trailersFollow === true) response.trailersFollow = true;
  return response;
}

/** Parses the trailers frame that closes a chunked response body; returns the forwardable trailers. */
export function parseTrailersMeta(json: string): RawHeaders {
  const meta = expectObject(parseJson(json), 'trailers meta');
  if (meta.kind !== 'trailers') throw new ProtocolError(`meta kind must be "trailers", got ${JSON.stringify(meta.kind)}`);
  return forwardableTrailers(expectRawHeaders(meta.trailers));
}

/** Parses the frame of a respond-to-several POST, or throws ProtocolError saying what is wrong. */
export function parseResponseGroupMeta(json: string): ResponseGroupMeta {
  const meta = expectObject(parseJson(json), 'response group meta');
  if (meta.kind !== 'responses') throw new ProtocolError(`meta kind must be "responses", got ${JSON.stringify(meta.kind)}`);
  const responses = expectList(meta.responses, 'responses', MAX_BATCH_REQUESTS).map((item) => {
    const response = expectObject(item, 'grouped response');
    const id = expectString(response.id, 'id');
    if (!REQUEST_ID_PATTERN.test(id)) throw new ProtocolError('id of a grouped response must be a uuid v4');
    const bodyBytes = expectInteger(response.bodyBytes, 'bodyBytes', 0, MAX_GROUPED_BODY_BYTES);
    return { ...toResponseMeta(response), id, bodyBytes };
  });
  return { kind: 'responses', responses };
}

function toResponseMeta(meta: Record<string, unknown>): ResponseMeta {
  const appMs = typeof meta.appMs === 'number' && Number.isFinite(meta.appMs) ? Math.max(0, meta.appMs) : 0;
  switch (meta.kind) {
    case 'response': {
      const response: AppResponseMeta = {
        kind: 'response',
        status: expectInteger(meta.status, 'status', 100, 999),
        headers: expectRawHeaders(meta.headers),
        appMs,
      };
      if (isReasonPhrase(meta.statusMessage)) response.statusMessage = meta.statusMessage;
      if (meta.trailers !== undefined) response.trailers = forwardableTrailers(expectRawHeaders(meta.trailers));
      return response;
    }
    case 'failure': {
      const code = meta.code === 'app_unreachable' ? 'app_unreachable' : 'app_error';
      return { kind: 'failure', code, message: expectString(meta.message, 'message').slice(0, 500), appMs };
    }
    default:
      throw new ProtocolError(`meta kind must be "response" or "failure", got ${JSON.stringify(meta.kind)}`);
  }
}

/** RFC 9112 §4 reason-phrase: HTAB, SP, visible ASCII and obs-text; kept short. */
const REASON_PHRASE_PATTERN = /^[\t\x20-\x7e\x80-\xff]{0,200}$/;

function isReasonPhrase(value: unknown): value is string {
  return typeof value === 'string' && REASON_PHRASE_PATTERN.test(value);
}

/** An HTTP token (RFC 9110 §5.6.2), the syntax of a field name. */
const TOKEN_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A field value Node writes without complaint: no CR, LF, NUL or other controls but HTAB. */
const FIELD_VALUE_PATTERN = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Fields a trailer must not carry (RFC 9110 §6.5.1: framing, routing, authentication, and
 * fields that change how the content is read); such trailers are dropped, as are malformed ones.
 */
const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'trailer',
  'host',
  'content-encoding',
  'content-type',
  'content-range',
  'authorization',
  'set-cookie',
  'cache-control',
  'expect',
  'te',
]);

/** The trailers that may be written to the browser: well-formed and not forbidden. */
export function forwardableTrailers(trailers: RawHeaders): RawHeaders {
  const kept: RawHeaders = [];
  for (let i = 0; i < trailers.length; i += 2) {
    const name = trailers[i];
    const value = trailers[i + 1];
    if (!TOKEN_PATTERN.test(name) || !FIELD_VALUE_PATTERN.test(value) || FORBIDDEN_TRAILERS.has(name.toLowerCase())) continue;
    kept.push(name, value);
  }
  return kept;
}

/** Encodes meta as the JSON of a metadata frame (wire-frame.ts encodeFrame frames it). */
export function encodeMeta(
  meta: PollMeta | ResponseMeta | ResponseGroupMeta | ProbeResultMeta | InterimResponseMeta | TrailersMeta,
): string {
  return JSON.stringify(meta);
}
