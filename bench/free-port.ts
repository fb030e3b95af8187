import { createServer } from 'node:net';

/**
 * Asks the kernel for a free loopback port. For processes that must be told their port up front
 * (nginx, standin); another process could take it before they bind, which at worst fails a run
 * with a clear error.
 */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('free port probe has no TCP address');
  return address.port;
}
