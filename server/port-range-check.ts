/**
 * At start, how many of the tunnel ports other processes already hold. A server whose whole
 * range is taken starts normally and then refuses every registration with no_free_port, which
 * looks like a standin bug; a warning at start names the cause.
 */

import net from 'node:net';

/** Most ports probed at start, which bounds the start-up time; a larger range is probed only in its first part. */
const MAX_PROBED_PORTS = 2_000;

/** Ports of `range` that cannot be bound on `bindAddress` right now, probed one at a time. */
export async function portsInUse(range: { from: number; to: number }, bindAddress: string): Promise<number[]> {
  const taken: number[] = [];
  const last = Math.min(range.to, range.from + MAX_PROBED_PORTS - 1);
  for (let port = range.from; port <= last; port++) {
    if (!(await canBind(port, bindAddress))) taken.push(port);
  }
  return taken;
}

function canBind(port: number, bindAddress: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: bindAddress, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
