/**
 * The Vite plugin, `standin/vite`: the tunnel starts with `vite dev` and stops with it.
 *
 *   // vite.config.ts
 *   import standin from 'standin/vite';
 *   export default { plugins: [standin({ server: 'https://standin.test.example.com', name: 'alice-shop' })] };
 *
 * - Once Vite listens, the tunnel connects to Vite's own port (https when Vite serves https).
 * - Its URLs print below Vite's ("➜  Standin: …"), when Vite prints its own.
 * - The server's host is added to `server.allowedHosts`, so Vite's DNS-rebinding check accepts
 *   browsers that reach it through the tunnel with their Host kept (`preserveHost`).
 * - Hot reload needs nothing more: Vite's HMR client connects to the page's own origin, which is
 *   the tunnel, and standin carries WebSockets. Only a fixed `server.hmr.clientPort` or
 *   `server.hmr.host` in the user's config would send it elsewhere; those are left as they are.
 * - A tunnel that cannot connect is logged through Vite's logger; the dev server keeps running.
 *
 * Vite is a peer dependency, used here for its types only.
 */

import type { AddressInfo } from 'node:net';
import type { Plugin, ViteDevServer } from 'vite';
import { connect, type ConnectOptions, type Tunnel } from './api';

function standin(options: standin.StandinViteOptions): Plugin {
  let tunnel: Promise<Tunnel | null> | undefined;
  let closing: Promise<void> | undefined;
  const closeTunnel = (): Promise<void> => {
    closing ??= (async () => {
      const live = await tunnel;
      await live?.close();
    })();
    return closing;
  };
  return {
    name: 'standin',
    apply: 'serve',
    config(userConfig) {
      const allowed = userConfig.server?.allowedHosts;
      if (allowed === true) return undefined;
      // Vite appends a plugin's list to the user's.
      return { server: { allowedHosts: [serverHostname(options.server)] } };
    },
    configureServer(server) {
      const httpServer = server.httpServer;
      // Middleware mode: the user's own server listens, and knows where; nothing to start here.
      if (!httpServer) return;
      httpServer.once('listening', () => {
        const address: AddressInfo | string | null = httpServer.address();
        if (closing || !address || typeof address === 'string') return;
        const scheme = server.config.server.https ? 'https' : 'http';
        tunnel = connect({ ...options, target: `${scheme}://localhost:${address.port}` }).catch((error: Error & { code?: string }) => {
          server.config.logger.error(`  standin: the tunnel did not start (${error.code ?? 'error'}): ${error.message}`, {
            timestamp: true,
          });
          return null;
        });
      });
      httpServer.once('close', () => void closeTunnel());
      wrapPrintUrls(server, () => tunnel);
    },
    // Vite 7+ calls this when the dev server closes (also on SIGTERM); older ones only close the HTTP server.
    async closeServer() {
      await closeTunnel();
    },
  };
}

/** Prints the tunnel's URLs under Vite's, as soon as the tunnel is live. */
function wrapPrintUrls(server: ViteDevServer, tunnelOf: () => Promise<Tunnel | null> | undefined): void {
  const printViteUrls = server.printUrls.bind(server);
  server.printUrls = () => {
    printViteUrls();
    void tunnelOf()?.then((tunnel) => {
      if (!tunnel) return;
      // Vite's look: a green arrow, a bold label, a cyan URL; plain text when not on a terminal.
      const color = process.stdout.isTTY
        ? (code: string, text: string) => `\x1b[${code}m${text}\x1b[0m`
        : (_code: string, text: string) => text;
      const line = (text: string) => server.config.logger.info(`  ${color('32', '➜')}  ${color('1', 'Standin')}: ${text}`);
      const { port } = tunnel.urls;
      if (port) line(color('36', port));
      line(`select ${tunnel.name} with /_standin/select/${tunnel.name} on the test site`);
    });
  };
}

function serverHostname(server: string | URL): string {
  try {
    return new URL(server).hostname;
  } catch {
    // connect() reports the bad URL with its own message.
    return 'localhost';
  }
}

// eslint-disable-next-line @typescript-eslint/no-namespace -- types that ride along with `export =`
namespace standin {
  /** The options of connect(), but the target: it is Vite's own port. */
  export type StandinViteOptions = Omit<ConnectOptions, 'target'>;
}

// `export =`: `import standin from 'standin/vite'` in an ES module vite.config gets the function
// itself (Node's default import of CommonJS is module.exports), and TypeScript agrees.
export = standin;
