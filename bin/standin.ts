#!/usr/bin/env node
/**
 * The `standin` command: parses the subcommand and hands off to the server or the client.
 * Each side is loaded only when chosen, so `standin connect` never loads Express.
 */

import type { Argv } from 'yargs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { ServerArgv } from '../server/config';
import { envName, explainUsageError } from './usage-message';

const EXIT_USAGE = 2;

ignoreKubernetesServiceVariables(process.env);
exitQuietlyWhenOutputCloses();

// Bare `standin` shows what it can do instead of an error.
const args = hideBin(process.argv).length === 0 ? ['--help'] : hideBin(process.argv);
/** The chosen subcommand and its flags, for usage error messages. */
const chosen: { command: string | undefined; knownFlags: string[] } = { command: undefined, knownFlags: [] };

void yargs(args)
  .scriptName('standin')
  .usage('$0 <command> [options]\n\nA layer-7 HTTP reverse tunnel: your local app stands in for one app of a test cluster.')
  // Every flag also reads STANDIN_<FLAG>, e.g. STANDIN_SERVER for --server; flags win.
  .env('STANDIN')
  // A flag given twice takes its last value, as in most CLIs, instead of becoming a list.
  .parserConfiguration({ 'duplicate-arguments-array': false })
  .command(
    'server',
    'Run the tunnel server (in the cluster, or locally for a demo)',
    (command) => withEnvNames('server', (require('../server/config') as typeof import('../server/config')).serverOptions(command)),
    async (argv) => {
      const { runServer } = require('../server/main') as typeof import('../server/main');
      await runServer(argv as unknown as ServerArgv).catch(exitOnStartError);
    },
  )
  .command(
    'connect <target>',
    'Connect a local app to a standin server',
    (command) => withEnvNames('connect', (require('../client/cli/config') as typeof import('../client/cli/config')).clientOptions(command)),
    async (argv) => {
      const { runConnect } = require('../client/cli/main') as typeof import('../client/cli/main');
      process.exitCode = await runConnect(argv);
      // Open handles (timers, sockets) must not keep a finished client alive.
      setImmediate(() => process.exit());
    },
  )
  .command(
    'up',
    'Start every tunnel of standin.yaml (here or above, or --config) in one process',
    (command) => withEnvNames('up', (require('../client/cli/up-command') as typeof import('../client/cli/up-command')).upOptions(command)),
    async (argv) => {
      const { runUp } = require('../client/cli/up-command') as typeof import('../client/cli/up-command');
      process.exitCode = await runUp(argv);
      // Open handles (timers, sockets) must not keep a finished client alive.
      setImmediate(() => process.exit());
    },
  )
  .command(
    'status',
    "Show a standin server's tunnels: port, state, health, time left",
    (command) =>
      withEnvNames(
        'status',
        (require('../client/cli/status-command') as typeof import('../client/cli/status-command')).statusOptions(command),
      ),
    async (argv) => {
      const { runStatus } = require('../client/cli/status-command') as typeof import('../client/cli/status-command');
      process.exitCode = await runStatus(argv);
    },
  )
  .example('$0 connect 3000 --server https://standin.test.example.com', "your app on port 3000 stands in for the cluster's")
  .example('$0 server --token-file /run/secrets/token', 'the tunnel server, in the cluster')
  .example('$0 status --server https://standin.test.example.com', "the server's tunnels")
  .epilogue(
    'Every flag also reads STANDIN_<FLAG> (STANDIN_SERVER for --server); flags win. "standin <command> --help" lists a command\'s flags.',
  )
  .demandCommand(1, 'Name a command: server, connect, up or status')
  .strict()
  .fail((message, error) => {
    if (error) throw error;
    const explained = explainUsageError({ yargsMessage: message ?? '', args, ...chosen });
    const helpCommand = chosen.command ? `standin ${chosen.command} --help` : 'standin --help';
    process.stderr.write(`standin: ${explained}\nRun "${helpCommand}" for usage.\n`);
    process.exit(EXIT_USAGE);
  })
  .help()
  .version()
  .parse();

/** Remembers the command's flags (for "did you mean") and lists their env vars under its help. */
function withEnvNames<T>(command: string, options: Argv<T>): Argv<T> {
  chosen.command = command;
  // getOptions() is public yargs API that @types/yargs leaves out.
  const declared = (options as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key;
  chosen.knownFlags = Object.keys(declared).filter((flag) => flag !== '$0');
  ignoreVariablesOfOtherCommands(process.env, chosen.knownFlags);
  const flags = chosen.knownFlags.filter((flag) => !['help', 'version', 'target'].includes(flag) && !/[A-Z]/.test(flag));
  return options.epilogue(
    `Environment: every flag also reads its variable, flags win: ${flags.map((flag) => `--${flag} ${envName(flag)}`).join(', ')}.`,
  );
}

/**
 * A shell may export STANDIN_LOG_FORMAT or STANDIN_TOKEN for one command; `standin status`,
 * which has no such flag, must not refuse to run because of it. Runs in the command's builder,
 * before yargs reads the environment for that command.
 */
function ignoreVariablesOfOtherCommands(env: NodeJS.ProcessEnv, knownFlags: readonly string[]): void {
  const known = new Set(knownFlags.map(envName));
  for (const key of Object.keys(env)) {
    if (key.startsWith('STANDIN_') && !known.has(key)) delete env[key];
  }
}

/**
 * `standin connect 3000 | head` closes our stdout after a few lines: the next write fails with
 * EPIPE, which would end the process with a stack trace. The reader is gone, so stop quietly
 * (Ctrl-C semantics: the client's SIGINT handler releases the tunnel).
 */
function exitQuietlyWhenOutputCloses(): void {
  let stopping = false;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      if (stopping) return;
      stopping = true;
      process.kill(process.pid, 'SIGINT');
    });
  }
}

/**
 * Kubernetes gives every pod variables for each Service, named after it: a Service called
 * "standin" yields STANDIN_PORT=tcp://10.0.0.1:8080, STANDIN_SERVICE_HOST, STANDIN_PORT_8080_TCP…
 * They share our prefix but are not our flags, and strict parsing would refuse to start.
 */
function ignoreKubernetesServiceVariables(env: NodeJS.ProcessEnv): void {
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('STANDIN_')) continue;
    const isServiceVariable =
      /_SERVICE_(HOST|PORT)/.test(key) || /_PORT_\d+_(TCP|UDP|SCTP)/.test(key) || /^(tcp|udp|sctp):\/\//.test(value ?? '');
    if (isServiceVariable) delete env[key];
  }
}

function exitOnStartError(error: Error): void {
  const isConfigError = error.name === 'ConfigError';
  process.stderr.write(`standin: ${error.message}\n`);
  process.exit(isConfigError ? EXIT_USAGE : 1);
}
