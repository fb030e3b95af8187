/** The selector rules and the redirect guard as pure functions. */

import type { IncomingMessage } from 'node:http';
import { originFormPath } from '../server/http/forward-headers';
import { isLocalPath } from '../server/selector/select';
import { readCookie } from '../server/http/read-cookie';
import { hostLabel, selectTunnel } from '../server/selector/tunnel-selector';
import type { Tunnel } from '../server/core/tunnel';
import { InMemoryTunnelRegistry } from '../server/core/tunnel-registry';

const registry = new InMemoryTunnelRegistry();
registry.add({ name: 'alice' } as Tunnel);

function request(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

test('header beats cookie beats host', () => {
  expect(
    selectTunnel(request({ 'x-standin-tunnel': 'bob', cookie: 'standin-tunnel=carol', host: 'alice.example.test' }), registry),
  ).toEqual({ name: 'bob', by: 'header' });
  expect(selectTunnel(request({ cookie: 'standin-tunnel=carol', host: 'alice.example.test' }), registry)).toEqual({
    name: 'carol',
    by: 'cookie',
  });
  expect(selectTunnel(request({ host: 'alice.example.test:8443' }), registry)).toEqual({ name: 'alice', by: 'host' });
});

test('a host label that is no registered tunnel, a bare host or an IP selects nothing', () => {
  expect(selectTunnel(request({ host: 'www.example.test' }), registry)).toBeUndefined();
  expect(selectTunnel(request({ host: 'alice' }), registry)).toBeUndefined();
  expect(hostLabel('127.0.0.1:8080')).toBeUndefined();
  expect(hostLabel('Alice.Example.Test')).toBe('alice');
});

test('selector values that are no tunnel name, or "none", are ignored', () => {
  expect(selectTunnel(request({ 'x-standin-tunnel': 'bad_name', cookie: 'standin-tunnel=-x' }), registry)).toBeUndefined();
  expect(selectTunnel(request({ cookie: 'standin-tunnel=none' }), registry)).toBeUndefined();
});

test('readCookie finds the first value among others', () => {
  expect(readCookie('a=1; standin-tunnel=bob; standin-tunnel=eve', 'standin-tunnel')).toBe('bob');
  expect(readCookie('xstandin-tunnel=bob', 'standin-tunnel')).toBeUndefined();
  expect(readCookie(undefined, 'standin-tunnel')).toBeUndefined();
});

test('isLocalPath allows same-site paths only', () => {
  for (const ok of ['/', '/shop/', '/shop/?a=1&b=%2F', '/a#top']) expect(isLocalPath(ok)).toBe(true);
  for (const bad of ['', '//evil.test', '/\\evil.test', 'https://evil.test/', 'evil', '/a\tb', '/a\nb', '/a\\b'])
    expect(isLocalPath(bad)).toBe(false);
});

test('originFormPath keeps only path and query of an absolute-form target', () => {
  expect(originFormPath('/x?y=1')).toBe('/x?y=1');
  expect(originFormPath('http://evil.test:81/steal?q=1')).toBe('/steal?q=1');
  expect(originFormPath('*')).toBe('/');
  expect(originFormPath(undefined)).toBe('/');
});
