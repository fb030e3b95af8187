/**
 * The pure parts of outbound calls: --outbound-allow rules, the address policy after DNS, the
 * headers a service gets, destinations and CONNECT targets.
 */

import { connectAuthority } from '../client/cluster-proxy/connect-tunnel';
import { classifyAddress, isAddressAllowed } from '../server/outbound/address-policy';
import { buildOutboundHeaders } from '../server/outbound/outbound-headers';
import { checkLiteralAddress, OutboundDeniedError, parseDestination } from '../server/outbound/outbound-destination';
import { findOutboundRule, parseOutboundRules, suggestedRule } from '../server/outbound/outbound-rules';
import { ConfigError } from '#shared/errors';

describe('--outbound-allow rules', () => {
  const rules = parseOutboundRules(['*.svc.cluster.local', 'api.internal:8080,[fd00::1]:80', 'Billing.Example.test.']);

  test.each([
    ['orders.shop.svc.cluster.local', 80, '*.svc.cluster.local'],
    ['orders.shop.svc.cluster.local', 9090, '*.svc.cluster.local'],
    ['api.internal', 8080, 'api.internal:8080'],
    ['fd00::1', 80, '[fd00::1]:80'],
    ['billing.example.test', 443, 'Billing.Example.test.'],
  ])('%s:%d is allowed by %s', (host, port, rule) => {
    expect(findOutboundRule(rules, host, port)?.text).toBe(rule);
  });

  test.each([
    ['svc.cluster.local', 80],
    ['evil.svc.cluster.local.attacker.test', 80],
    ['api.internal', 8081],
    ['api.internal.attacker.test', 8080],
    ['fd00::2', 80],
  ])('%s:%d is not allowed', (host, port) => {
    expect(findOutboundRule(rules, host, port)).toBeUndefined();
  });

  test('nothing is allowed without a rule', () => {
    expect(findOutboundRule(parseOutboundRules([]), 'orders.svc.cluster.local', 80)).toBeUndefined();
  });

  test.each(['http://api.internal', 'api.internal:0', 'api.internal:99999', 'fd00::1', 'api.internal/x', 'a@b'])(
    '"%s" is refused at start',
    (text) => {
      expect(() => parseOutboundRules([text])).toThrow(ConfigError);
    },
  );

  test('the rule to add names host and port, IPv6 in brackets', () => {
    expect(suggestedRule('orders.shop.svc.cluster.local', 8080)).toBe('orders.shop.svc.cluster.local:8080');
    expect(suggestedRule('fd00::1', 80)).toBe('[fd00::1]:80');
  });
});

describe('the address policy', () => {
  test.each([
    ['93.184.215.14', 'public'],
    ['2606:4700::1111', 'public'],
    ['10.96.0.10', 'private'],
    ['172.20.1.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'never'],
    ['169.254.169.254', 'never'],
    ['::ffff:169.254.169.254', 'never'],
    ['fe80::1', 'never'],
    ['0.0.0.0', 'never'],
    ['::', 'never'],
    ['224.0.0.1', 'never'],
    ['not-an-ip', 'never'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  test('private and loopback need --outbound-allow-private; link-local never passes', () => {
    expect(isAddressAllowed('10.0.0.1', false)).toBe(false);
    expect(isAddressAllowed('10.0.0.1', true)).toBe(true);
    expect(isAddressAllowed('127.0.0.1', true)).toBe(true);
    expect(isAddressAllowed('169.254.169.254', true)).toBe(false);
    expect(isAddressAllowed('8.8.8.8', false)).toBe(true);
  });

  test('an IP-literal destination is checked before connecting (Node does not look literals up)', () => {
    expect(() => checkLiteralAddress('127.0.0.1', false)).toThrow(OutboundDeniedError);
    expect(() => checkLiteralAddress('127.0.0.1', true)).not.toThrow();
    expect(() => checkLiteralAddress('169.254.169.254', true)).toThrow(/link-local/);
    expect(() => checkLiteralAddress('orders.svc.cluster.local', false)).not.toThrow();
  });
});

describe('outbound destinations', () => {
  test('an absolute http:// URL gives host, port, authority and origin-form path', () => {
    expect(parseDestination('http://Orders.Shop.svc.cluster.local./api?q=1')).toEqual({
      host: 'orders.shop.svc.cluster.local',
      port: 80,
      authority: 'orders.shop.svc.cluster.local.',
      path: '/api?q=1',
    });
    expect(parseDestination('http://[fd00::1]:8080/x')).toMatchObject({ host: 'fd00::1', port: 8080, authority: '[fd00::1]:8080' });
  });

  test.each(['https://api.internal/', 'http://user:secret@api.internal/', 'not a url'])('"%s" is refused', (url) => {
    expect(() => parseDestination(url)).toThrow();
  });

  test.each([
    ['orders.svc:80', 'orders.svc:80'],
    ['Orders.SVC:8080', 'orders.svc:8080'],
    ['[fd00::1]:80', '[fd00::1]:80'],
    ['orders.svc', undefined],
    ['orders.svc:0', undefined],
    ['orders.svc:80/x', undefined],
    ['user@orders.svc:80', undefined],
  ])('CONNECT target %s is %s', (target, authority) => {
    expect(connectAuthority(target)).toBe(authority);
  });
});

describe('the headers a service gets', () => {
  const appHeaders = [
    'Host',
    'localhost:3128',
    'Proxy-Authorization',
    'Basic c2VjcmV0',
    'Proxy-Connection',
    'keep-alive',
    'Connection',
    'keep-alive, X-Hop',
    'X-Hop',
    'gone',
    'X-Standin-Tunnel',
    'spoofed',
    'Accept',
    'application/json',
    'traceparent',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    'X-Request-Id',
    'app-123',
  ];
  const headers = buildOutboundHeaders(appHeaders, '6f1c2a9e-1d1b-4c53-9a1e-1a2b3c4d5e6f', 'ada-shop', 'orders.svc:8080');
  const values = (name: string) => headers.flatMap((value, i) => (i % 2 === 1 && headers[i - 1].toLowerCase() === name ? [value] : []));

  test('Host is the destination; hop-by-hop and proxy credentials are gone', () => {
    expect(values('host')).toEqual(['orders.svc:8080']);
    for (const name of ['proxy-authorization', 'proxy-connection', 'connection', 'x-hop']) expect(values(name)).toEqual([]);
    expect(values('accept')).toEqual(['application/json']);
  });

  test("standin's own headers replace the app's, and the trace continues", () => {
    expect(values('x-standin-tunnel')).toEqual(['ada-shop']);
    expect(values('x-standin-request-id')).toEqual(['6f1c2a9e-1d1b-4c53-9a1e-1a2b3c4d5e6f']);
    expect(values('x-request-id')).toEqual(['app-123']);
    expect(values('via')).toEqual(['1.1 standin']);
    expect(values('traceparent')[0]).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/);
  });
});
