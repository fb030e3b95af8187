/** How the client classifies a failed call: exit, poll again, or reconnect. */

import { classifyFailure, describeFailure } from '../client/session/connection-failure';
import {
  AuthRefusedError,
  BadPollAnswerError,
  ProtocolError,
  ProtocolMismatchError,
  SessionEndedError,
  StandinError,
} from '#shared/errors';

function nodeError(code: string): Error {
  return Object.assign(new Error(`failed with ${code}`), { code });
}

test('a refused token exits and is never retried, whatever the call', () => {
  for (const call of ['register', 'poll', 'respond'] as const) {
    expect(classifyFailure(new AuthRefusedError('no'), call)).toBe('exit-auth');
  }
});

test('a session the server ended exits', () => {
  expect(classifyFailure(new SessionEndedError('tunnel_stopped', 'tunnel expired'), 'poll')).toBe('exit-ended');
  expect(classifyFailure(new SessionEndedError('session_replaced', 'replaced'), 'respond')).toBe('exit-ended');
});

test('a registration refused as malformed is a configuration error', () => {
  expect(classifyFailure(new StandinError('bad_request', 'name is not a DNS label'), 'register')).toBe('exit-config');
});

test('a server of another protocol version is a configuration error, whatever the call', () => {
  for (const call of ['register', 'poll', 'respond'] as const) {
    expect(classifyFailure(new ProtocolMismatchError('the server speaks protocol 1'), call)).toBe('exit-config');
  }
});

test('one unreadable poll answer (a proxy error page, a cut frame) means poll again; at registration it means reconnect', () => {
  expect(classifyFailure(new BadPollAnswerError('a proxy answered HTTP 502'), 'poll')).toBe('poll-again');
  expect(classifyFailure(new BadPollAnswerError('not a frame'), 'respond')).toBe('poll-again');
  expect(classifyFailure(new BadPollAnswerError('a proxy answered HTTP 502'), 'register')).toBe('reconnect');
});

test('a server shutting down means reconnect soon', () => {
  expect(classifyFailure(new StandinError('server_shutdown', 'going away'), 'poll')).toBe('reconnect-soon');
  expect(classifyFailure(new StandinError('server_shutdown', 'going away'), 'register')).toBe('reconnect-soon');
});

test('network failures, restarts and silent polls mean reconnect', () => {
  for (const error of [
    nodeError('ECONNREFUSED'),
    nodeError('ECONNRESET'),
    nodeError('UND_ERR_SOCKET'),
    nodeError('UND_ERR_HEADERS_TIMEOUT'),
    new StandinError('not_found', 'x'),
    new StandinError('http_502', 'proxy'),
    new ProtocolError('bad meta'),
    new Error('no code'),
  ]) {
    expect(classifyFailure(error, 'poll')).toBe('reconnect');
  }
  expect(classifyFailure(nodeError('ECONNREFUSED'), 'register')).toBe('reconnect');
  expect(classifyFailure(new StandinError('no_free_port', 'full'), 'register')).toBe('reconnect');
});

test('a failed respond POST only means poll again', () => {
  expect(classifyFailure(new StandinError('unknown_request', 'timed out'), 'respond')).toBe('poll-again');
  expect(classifyFailure(nodeError('UND_ERR_SOCKET'), 'respond')).toBe('poll-again');
});

test('reasons are short human phrases', () => {
  expect(describeFailure(nodeError('ECONNREFUSED'))).toBe('the server is not listening');
  expect(describeFailure(nodeError('UND_ERR_HEADERS_TIMEOUT'))).toMatch(/did not answer a poll in time/);
  expect(describeFailure(new StandinError('weird', 'something odd'))).toBe('something odd');
});

test('a poll answer whose head is over the limit loses that one request, not the connection', () => {
  expect(classifyFailure(nodeError('UND_ERR_HEADERS_OVERFLOW'), 'poll')).toBe('poll-again');
  expect(classifyFailure(nodeError('UND_ERR_HEADERS_OVERFLOW'), 'register')).toBe('reconnect');
});
