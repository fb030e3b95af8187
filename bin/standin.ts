#!/usr/bin/env node
/**
 * The `standin` command: parses the subcommand and hands off to the server or the client.
 * Each side is loaded only when chosen, so `standin connect` never loads Express.
 */

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { ClientArgv } from '../client/config';
import type { ServerArgv } from '../server/config';

const EXIT_USAGE = 2;

ignoreKubernetesServiceVariables(process.env);

void yargs(hideBin(process.argv))
  .scriptName('standin')
  .usage('$0 <command> [options]\n\nA layer-7 HTTP reverse tunnel: your local app stands in for one app of a test cluster.')
  // Every flag also reads STANDIN_<FLAG>, e.g. STANDIN_SERVER for --server; flags win.
  .env('STANDIN')
  // A flag given twice takes its last value, as in most CLIs, instead of becoming a list.
  .parserConfiguration({ 'duplicate-arguments-array': false })
  .command(
    'server',
    'Run the tunnel server (in the cluster, or locally for a demo)',
    (command) => require('../server/config').serverOptions(command),
    async (argv) => {
      const { runServer } = require('../server/main') as typeof import('../server/main');
      await runServer(argv as unknown as ServerArgv).catch(exitOnStartError);
    },
  )
  .command(
    'connect <target>',
    'Connect a local app to a standin server',
    (command) => require('../client/config').clientOptions(command),
    async (argv) => {
      const { runConnect } = require('../client/main') as typeof import('../client/main');
      process.exitCode = await runConnect(argv as unknown as ClientArgv);
      // Open handles (timers, sockets) must not keep a finished client alive.
      setImmediate(() => process.exit());
    },
  )
  .command(
    'up',
    'Start every tunnel of standin.yaml (here or above, or --config) in one process',
    (command) => require('../client/up-command').upOptions(command),
    async (argv) => {
      const { runUp } = require('../client/up-command') as typeof import('../client/up-command');
      process.exitCode = await runUp(argv as unknown as import('../client/up-command').UpArgv);
      // Open handles (timers, sockets) must not keep a finished client alive.
      setImmediate(() => process.exit());
    },
  )
  .command(
    'status',
    "Show a standin server's tunnels: port, state, health, time left",
    (command) => require('../client/status-command').statusOptions(command),
    async (argv) => {
      const { runStatus } = require('../client/status-command') as typeof import('../client/status-command');
      process.exitCode = await runStatus(argv as unknown as import('../client/status-command').StatusArgv);
    },
  )
  .demandCommand(1, 'Name a command: server, connect, up or status')
  .strict()
  .fail((message, error) => {
    if (error) throw error;
    process.stderr.write(`standin: ${message}\nRun "standin --help" for usage.\n`);
    process.exit(EXIT_USAGE);
  })
  .help()
  .version()
  .parse();

/**
 * Kubernetes gives every pod variables for each Service, named after it: a Service called
 * "standin" yields STANDIN_PORT=tcp://10.0.0.1:8080, STANDIN_SERVICE_HOST, STANDIN_PORT_8080_TCP…
 * They share our prefix but are not our flags, and strict parsing would refuse to start.
 */
function ignoreKubernetesServiceVariables(env: NodeJS.ProcessEnv): void {
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('STANDIN_')) continue;
    const isServiceVariable = /_SERVICE_(HOST|PORT)/.test(key) || /_PORT_\d+_(TCP|UDP|SCTP)/.test(key) || /^(tcp|udp|sctp):\/\//.test(value ?? '');
    if (isServiceVariable) delete env[key];
  }
}

function exitOnStartError(error: Error): void {
  const isConfigError = error.name === 'ConfigError';
  process.stderr.write(`standin: ${error.message}\n`);
  process.exit(isConfigError ? EXIT_USAGE : 1);
}
