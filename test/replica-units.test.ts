/**
 * The small rules of replica mode (docs/replicas.md), in process: the pod-to-pod signature, the
 * replica tag in request ids, and the --redis flags. The scenarios with real replicas, nginx and
 * redis-server are in replicas.test.ts.
 */

import yargs from 'yargs';
import { serverOptions, toServerConfig } from '../server/config';
import { ClusterCallCheck, signClusterCall } from '../server/replicas/cluster-auth';
import { newReplicaTag, replicaTagOf, RequestIds } from '../server/core/request-ids';
import { REQUEST_ID_PATTERN } from '#shared/protocol/paths';

const SECRET = 'a-cluster-secret-of-some-length';

function config(args: string[]) {
  return toServerConfig(serverOptions(yargs([])).strict().parseSync(args));
}

describe('pod-to-pod signatures', () => {
  const path = '/_standin/internal/v1/tunnels/shop/browser';

  test('a signature is good for its method and path, within 30 s, under the same secret only', () => {
    const now = 1_800_000_000_000;
    const signed = signClusterCall(SECRET, 'GET', path, now);
    // Each check gets a fresh memory of accepted signatures, so only the property under test refuses.
    const verify = (secret: string, method: string, onPath: string, at: number) =>
      new ClusterCallCheck(secret).verify(signed, method, onPath, at);
    expect(verify(SECRET, 'GET', path, now + 1_000)).toBe(true);
    expect(verify(SECRET, 'POST', path, now)).toBe(false);
    expect(verify(SECRET, 'GET', `${path}x`, now)).toBe(false);
    expect(verify('another-secret-of-some-length', 'GET', path, now)).toBe(false);
    expect(verify(SECRET, 'GET', path, now + 31_000)).toBe(false);
    expect(verify(SECRET, 'GET', path, now - 31_000)).toBe(false);
  });

  test('a signature is accepted once; a new one for the same call is accepted too', () => {
    const check = new ClusterCallCheck(SECRET);
    const signed = signClusterCall(SECRET, 'GET', path);
    expect(check.verify(signed, 'GET', path)).toBe(true);
    expect(check.verify(signed, 'GET', path)).toBe(false);
    expect(check.verify(signClusterCall(SECRET, 'GET', path), 'GET', path)).toBe(true);
  });

  test('anything that is not a signature is refused without throwing', () => {
    const check = new ClusterCallCheck(SECRET);
    const nonce = 'a'.repeat(32);
    for (const header of [
      undefined,
      '',
      'x',
      '1.2',
      ['a', 'b'],
      `${Date.now()}.${'g'.repeat(64)}`,
      `${Date.now()}.${nonce}.${'a'.repeat(63)}`,
      `-1.${nonce}.${'a'.repeat(64)}`,
      `${Date.now()}.${'a'.repeat(64)}`,
    ]) {
      expect(check.verify(header, 'GET', path)).toBe(false);
    }
  });
});

describe('request ids in replica mode', () => {
  test('carry the replica tag and stay uuid v4', () => {
    const tag = newReplicaTag();
    const ids = new RequestIds(tag);
    for (let i = 0; i < 100; i++) {
      const id = ids.next();
      expect(id).toMatch(REQUEST_ID_PATTERN);
      expect(replicaTagOf(id)).toBe(tag);
      expect(ids.isOwn(id)).toBe(true);
    }
    expect(new Set(Array.from({ length: 1000 }, () => ids.next())).size).toBe(1000);
    expect(ids.isOwn(new RequestIds(newReplicaTag()).next())).toBe(false);
  });

  test('a single server makes plain uuids and owns every id', () => {
    const ids = new RequestIds();
    expect(ids.next()).toMatch(REQUEST_ID_PATTERN);
    expect(ids.isOwn('00000000-0000-4000-8000-000000000000')).toBe(true);
  });
});

describe('--redis flags', () => {
  test('without --redis the server runs alone', () => {
    expect(config([]).replication).toBeNull();
  });

  test('--redis needs a long enough cluster secret and a redis URL', () => {
    expect(() => config(['--redis', 'redis://127.0.0.1:6379'])).toThrow(/--cluster-secret/);
    expect(() => config(['--redis', 'redis://127.0.0.1:6379', '--cluster-secret', 'short'])).toThrow(/16 characters/);
    expect(() => config(['--redis', 'http://127.0.0.1:6379', '--cluster-secret', SECRET])).toThrow(/redis:\/\//);
    expect(() => config(['--redis', 'not a url', '--cluster-secret', SECRET])).toThrow(/not a URL/);
    expect(() => config(['--cluster-secret', SECRET])).toThrow(/only mean something with --redis/);
    expect(() => config(['--redis', 'redis://r:6379', '--cluster-secret', SECRET, '--advertise', 'no port'])).toThrow(/host:port/);
  });

  test('the advertised address defaults to $POD_IP and the internal port', () => {
    const saved = process.env.POD_IP;
    process.env.POD_IP = '10.1.2.3';
    try {
      expect(config(['--redis', 'rediss://r:6380', '--cluster-secret', SECRET, '--internal-listen', '9091']).replication).toEqual({
        redisUrl: 'rediss://r:6380',
        internalPort: 9091,
        advertise: '10.1.2.3:9091',
        clusterSecret: SECRET,
      });
      expect(config(['--redis', 'redis://r', '--cluster-secret', SECRET, '--advertise', '[fd00::1]:8081']).replication?.advertise).toBe(
        '[fd00::1]:8081',
      );
    } finally {
      if (saved === undefined) delete process.env.POD_IP;
      else process.env.POD_IP = saved;
    }
  });
});
