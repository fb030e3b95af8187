/**
 * standin.yaml: the server, a token and several tunnels of one project, for `standin up`.
 *
 *   server: https://standin.test.example.com
 *   token-file: ~/.standin/token
 *   tunnels:
 *     shop: { target: 5173, name: alice-shop }
 *     api:  { target: 8080, preserve-host: true }
 *
 * The file is checked against a schema (zod) and every mistake is reported with its line and key
 * path (`standin.yaml:5: tunnels.shop.targt: unknown key`). Each tunnel takes every flag of
 * `standin connect` under its flag name; its values then go through the CLI's own parser
 * (connect-args.ts), so a tunnel here means exactly what the same flags would mean.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '#shared/errors';
import { LOG_LEVELS } from '#shared/logger';
import { TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';
import { configFromOptions } from './connect-args';
import { parseInspectPort, type ClientConfig } from './config';

/** The file `standin up` looks for, in the working directory and then each parent. */
export const PROJECT_CONFIG_FILE = 'standin.yaml';

/** A config file larger than this is not a config file. */
const MAX_CONFIG_BYTES = 256 * 1024;

const port = z.number().int().min(1).max(65535);
const target = z.union([port, z.string().min(1)]);

/** The flags of `standin connect` a tunnel may set (the keys as on the command line). */
const tunnelSchema = z.strictObject({
  target,
  server: z.url({ protocol: /^https?$/ }).optional(),
  token: z.string().optional(),
  'token-file': z.string().optional(),
  name: z.string().regex(TUNNEL_NAME_PATTERN, 'not a DNS label: 1-63 of a-z, 0-9 and "-", not starting or ending with "-"').optional(),
  port: port.optional(),
  concurrency: z.number().int().min(1).max(256).optional(),
  'preserve-host': z.boolean().optional(),
  ttl: z.string().optional(),
  renew: z.boolean().optional(),
  'health-path': z.string().startsWith('/').optional(),
  reconnect: z.boolean().optional(),
  'max-reconnect-delay': z.number().min(1).max(3600).optional(),
  'log-file': z.string().optional(),
  quiet: z.boolean().optional(),
  private: z.boolean().optional(),
  'cluster-proxy': port.optional(),
});

/** Flags that are one per process in `standin up` (one terminal, one inspector) and so live at the top. */
const processSchema = z.strictObject({
  server: z.url({ protocol: /^https?$/ }).optional(),
  token: z.string().optional(),
  'token-file': z.string().optional(),
  inspect: z.union([z.number().int().min(0).max(65535), z.literal(false)]).optional(),
  'log-format': z.enum(['json', 'pretty']).optional(),
  'log-level': z.enum(LOG_LEVELS).optional(),
  // How much of each request the logs keep is one policy per process (shared/trace-fields.ts).
  'log-query': z.boolean().optional(),
  'log-header': z.array(z.string().min(1)).optional(),
  tunnels: z
    .record(z.string().regex(/^[A-Za-z0-9_-]{1,63}$/, 'a tunnel key is 1-63 of letters, digits, "_" and "-"'), tunnelSchema)
    .refine((tunnels) => Object.keys(tunnels).length > 0, 'name at least one tunnel'),
});

/** One tunnel of the file, resolved. */
export interface ProjectTunnel {
  /** Its key under `tunnels:`, which prefixes its terminal lines. */
  key: string;
  config: ClientConfig;
}

/** The whole file, resolved. */
export interface ProjectConfig {
  file: string;
  /** The one inspector's port, or null when `inspect: false`. */
  inspectPort: number | null;
  logFormat: 'json' | 'pretty' | undefined;
  logLevel: (typeof LOG_LEVELS)[number] | undefined;
  tunnels: ProjectTunnel[];
}

/** `--config <file>`, else standin.yaml in `from` or the nearest parent folder that has one. */
export function findProjectConfig(explicit: string | undefined, from = process.cwd()): string {
  if (explicit !== undefined) return path.resolve(from, explicit);
  for (let folder = path.resolve(from); ; folder = path.dirname(folder)) {
    const candidate = path.join(folder, PROJECT_CONFIG_FILE);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(folder) === folder) break;
  }
  throw new ConfigError(`no ${PROJECT_CONFIG_FILE} in ${from} or any folder above it; write one, or name it with --config <file>`);
}

/** Reads, checks and resolves a config file; throws ConfigError naming the line and key of each mistake. */
export function loadProjectConfig(file: string): ProjectConfig {
  let text: string;
  try {
    if (fs.statSync(file).size > MAX_CONFIG_BYTES) throw new Error(`larger than ${MAX_CONFIG_BYTES / 1024} KiB`);
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return resolveProjectConfig(text, file);
}

/** The checks and resolution of loadProjectConfig, on the file's text. */
export function resolveProjectConfig(text: string, file: string): ProjectConfig {
  const lines = new LineCounter();
  // uniqueKeys: a key given twice is a mistake to report, not a silent override.
  const document = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((error) => `${file}:${lines.linePos(error.pos[0]).line}: ${firstLine(error.message)}`).join('\n'),
    );
  }
  const parsed = processSchema.safeParse(document.toJS({ maxAliasCount: 100 }) ?? {});
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.flatMap((issue) => describeIssue(issue, document, lines, file)).join('\n'));
  }
  const folder = path.dirname(file);
  const top = parsed.data;
  const tunnels = Object.entries(top.tunnels).map(([key, tunnel]) => {
    const where = `${file}:${lineOf(document, lines, ['tunnels', key])}: tunnels.${key}`;
    const { 'token-file': tunnelTokenFile, ...flags } = tunnel;
    const token =
      tunnel.token ??
      readToken(tunnelTokenFile, folder, `${where}.token-file`) ??
      top.token ??
      readToken(top['token-file'], folder, `${file}: token-file`);
    const server = tunnel.server ?? top.server;
    if (!server) throw new ConfigError(`${where}: no server: set server at the top of the file or in the tunnel`);
    try {
      const config = configFromOptions({
        ...flags,
        server,
        token,
        'log-file': flags['log-file'] === undefined ? undefined : path.resolve(folder, expandHome(flags['log-file'])),
        // Keeps body previews on for the one inspector; the tunnel starts no inspector of its own.
        inspect: top.inspect ?? 4040,
        'log-format': top['log-format'],
        'log-level': top['log-level'],
        'log-query': top['log-query'],
        'log-header': top['log-header'],
      });
      return { key, config };
    } catch (error) {
      throw new ConfigError(`${where}: ${(error as Error).message}`);
    }
  });
  const names = new Map<string, string>();
  for (const tunnel of tunnels) {
    const name = tunnel.config.name;
    if (name === undefined) continue;
    const other = names.get(`${tunnel.config.server.origin} ${name}`);
    if (other)
      throw new ConfigError(
        `${file}:${lineOf(document, lines, ['tunnels', tunnel.key, 'name'])}: tunnels.${tunnel.key}.name: "${name}" is also the name of tunnels.${other}`,
      );
    names.set(`${tunnel.config.server.origin} ${name}`, tunnel.key);
  }
  return {
    file,
    inspectPort: top.inspect === undefined ? 4040 : parseInspectPort(top.inspect),
    logFormat: top['log-format'],
    logLevel: top['log-level'],
    tunnels,
  };
}

/** One schema issue → one line per key it is about, each with the line where that key is. */
function describeIssue(issue: z.core.$ZodIssue, document: Document, lines: LineCounter, file: string): string[] {
  const at = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${file}:${lineOf(document, lines, [...at, key])}: ${[...at, key].join('.')}: unknown key`);
  }
  return [`${file}:${lineOf(document, lines, at)}: ${at.join('.') || '(top)'}: ${issue.message}`];
}

/** The line of the key at `keyPath` (or of its closest ancestor that exists). */
function lineOf(document: Document, lines: LineCounter, keyPath: string[]): number {
  for (let depth = keyPath.length; depth > 0; depth--) {
    const parent = depth === 1 ? document.contents : document.getIn(keyPath.slice(0, depth - 1), true);
    if (!isMap(parent)) continue;
    const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === keyPath[depth - 1]);
    const offset = isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
    if (offset !== undefined) return lines.linePos(offset).line;
  }
  return 1;
}

function readToken(tokenFile: string | undefined, folder: string, where: string): string | undefined {
  if (tokenFile === undefined) return undefined;
  const resolved = path.resolve(folder, expandHome(tokenFile));
  try {
    const token = fs.readFileSync(resolved, 'utf8').trim();
    if (!token) throw new Error('the file is empty');
    return token;
  } catch (error) {
    throw new ConfigError(`${where}: cannot read a token from ${resolved}: ${(error as Error).message}`);
  }
}

function expandHome(file: string): string {
  return file === '~' || file.startsWith('~/') ? path.join(os.homedir(), file.slice(1)) : file;
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}
