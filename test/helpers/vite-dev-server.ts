/**
 * A real Vite dev server as the local app of a test, in its own process (Vite is ESM; this runs
 * under plain node, where require() of ESM works, unlike inside jest's module system).
 * Usage: node vite-dev-server.js <root>. Prints one JSON line {"message":"vite ready","port":n}.
 */

interface ViteDevServer {
  listen(): Promise<unknown>;
  close(): Promise<void>;
  httpServer: { address(): { port: number } | string | null } | null;
}

interface Vite {
  createServer(config: Record<string, unknown>): Promise<ViteDevServer>;
}

async function main(): Promise<void> {
  const root = process.argv[2];
  if (!root) throw new Error('usage: vite-dev-server <root>');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vite = require('vite') as Vite;
  // Defaults otherwise: the HMR client connects to the page's own origin (the tunnel port), and
  // the host check accepts the "localhost:<port>" Host that standin's client sends.
  const server = await vite.createServer({
    root,
    configFile: false,
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  await server.listen();
  const address = server.httpServer?.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ message: 'vite ready', port })}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
