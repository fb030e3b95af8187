/** The probe messages of the wire protocol: parsed from untrusted headers, or refused with a reason. */

import { ProtocolError } from '#shared/errors';
import { encodeMeta, parsePollMeta, parseProbeResultMeta, parseRequestMeta } from '#shared/protocol/message-codecs';
import type { RequestMeta } from '#shared/protocol/messages';

const PROBE_ID = '6f1c2b8e-3d4a-4b5c-9d6e-7f8091a2b3c4';

test('a poll answer meta is either a request or a probe', () => {
  expect(parsePollMeta(encodeMeta({ kind: 'probe', id: PROBE_ID }))).toEqual({ kind: 'probe', id: PROBE_ID });
  const request: RequestMeta = { kind: 'request', id: PROBE_ID, method: 'GET', url: '/', headers: ['Host', 'x'], hasBody: false };
  expect(parsePollMeta(encodeMeta(request))).toEqual(request);
  expect(() => parsePollMeta('{"kind":"other"}')).toThrow(ProtocolError);
});

test('a probe is never taken for a request by the request parser', () => {
  expect(() => parseRequestMeta(encodeMeta({ kind: 'probe', id: PROBE_ID }))).toThrow(/unexpected meta kind "probe"/);
});

test('a probe result keeps ok, error and appMs, and refuses other kinds', () => {
  expect(parseProbeResultMeta(encodeMeta({ kind: 'probe-result', ok: false, error: 'ECONNREFUSED', appMs: 2 }))).toEqual({
    kind: 'probe-result',
    ok: false,
    error: 'ECONNREFUSED',
    appMs: 2,
  });
  expect(parseProbeResultMeta('{"kind":"probe-result","ok":"yes","appMs":-5}')).toEqual({ kind: 'probe-result', ok: false, appMs: 0 });
  expect(() => parseProbeResultMeta('{"kind":"response","status":200}')).toThrow(/must be "probe-result"/);
  expect(() => parseProbeResultMeta('{"kind":"probe-result","ok":true,"error":5}')).toThrow(/error must be a string/);
});
