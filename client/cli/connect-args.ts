/**
 * Options given as an object (the programmatic API, a tunnel of standin.yaml) → the same parsed
 * options `standin connect` gets from its command line. They go through the very yargs
 * declaration of the CLI, so every flag, default and check is the same in every entry point.
 */

import yargs from 'yargs';
import { ConfigError } from '#shared/errors';
import { clientOptions, toClientConfig, type ClientArgv, type ClientConfig } from './config';

/** A flag's value: true/false for a switch (false → --no-<flag>), else its text or number. */
export type FlagValue = string | number | boolean | string[];

/**
 * `{ target: 3000, server: 'http://…', preserveHost: true, inspect: false }` → a ClientConfig.
 * Keys are flag names, camelCase or kebab-case; `target` is the positional. Throws ConfigError.
 */
export function configFromOptions(options: Record<string, FlagValue | undefined>): ClientConfig {
  return toClientConfig(parseConnectArgs(toConnectArgs(options)));
}

/** Options → the argument list `standin connect` would get. */
export function toConnectArgs(options: Record<string, FlagValue | undefined>): string[] {
  const args: string[] = [];
  let target: string | undefined;
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === 'target') {
      target = String(value);
      continue;
    }
    const flag = key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    if (Array.isArray(value)) for (const item of value) args.push(`--${flag}=${item}`);
    else if (value === true) args.push(`--${flag}`);
    else if (value === false) args.push(`--no-${flag}`);
    else args.push(`--${flag}=${String(value)}`);
  }
  if (target === undefined) throw new ConfigError('target is required: the local app, a port (3000) or a URL (http://localhost:3000)');
  // Never a port or URL, and it would pass for a flag.
  if (target.startsWith('-')) throw new ConfigError(`target "${target}" is neither a port (3000) nor a URL (http://localhost:3000)`);
  return [target, ...args];
}

/** Parses `standin connect` arguments (without "connect"); throws ConfigError on an unknown flag or bad value. */
export function parseConnectArgs(args: string[]): ClientArgv {
  let argv: ClientArgv | undefined;
  yargs()
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .command(
      '$0 <target>',
      'connect',
      (command) => clientOptions(command),
      (parsed) => {
        argv = parsed;
      },
    )
    .strict()
    .exitProcess(false)
    .help(false)
    .version(false)
    .fail((message, error) => {
      throw error ?? new ConfigError(message.replace(/^Unknown arguments?: /, 'unknown option: '));
    })
    .parseSync(args);
  if (!argv) throw new ConfigError(`could not read the options ${JSON.stringify(args)}`);
  return argv;
}
