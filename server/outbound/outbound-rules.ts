/**
 * `--outbound-allow <glob>`: which in-cluster destinations a local app may call through the
 * server. A rule is a host glob with an optional port: `*.svc.cluster.local` (any port),
 * `api.internal:8080` (that port only), `[fd00::1]:80`. `*` stands for any run of characters,
 * dots included, so `*.shop.svc.cluster.local` matches `orders.shop.svc.cluster.local` but not
 * `shop.svc.cluster.local` itself. Hosts compare case-insensitively, without a trailing dot.
 * No rule, no outbound call: the default allows nothing.
 */

import { ConfigError } from '#shared/errors';

/** One parsed --outbound-allow rule. */
export interface OutboundRule {
  /** The rule as the admin wrote it, for messages and logs. */
  text: string;
  hostPattern: RegExp;
  /** The one port it allows, or null for any port. */
  port: number | null;
}

/** What the server allows outbound calls to (--outbound-allow, --outbound-allow-private). */
export interface OutboundSettings {
  rules: readonly OutboundRule[];
  allowPrivate: boolean;
}

/** Characters a host glob may hold: a DNS name or an IP literal, plus `*`. */
const HOST_GLOB_PATTERN = /^[a-z0-9.*:_-]+$/;

/** Parses the --outbound-allow values (each may hold several rules, split by commas or spaces). */
export function parseOutboundRules(values: readonly string[]): OutboundRule[] {
  return values
    .flatMap((value) => value.split(/[\s,]+/))
    .filter((text) => text !== '')
    .map(parseOutboundRule);
}

/** Parses one rule, or throws ConfigError that says what a rule looks like. */
export function parseOutboundRule(text: string): OutboundRule {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new ConfigError(
      `--outbound-allow "${text}" must be a host glob with an optional port, like *.svc.cluster.local or api.internal:8080, not a URL`,
    );
  }
  const { host, port } = splitHostPort(text.toLowerCase(), text);
  const bareHost = host.replace(/\.$/, '');
  if (!bareHost || !HOST_GLOB_PATTERN.test(bareHost)) {
    throw new ConfigError(`--outbound-allow "${text}" is not a host glob like *.svc.cluster.local or api.internal:8080`);
  }
  const source = bareHost.split('*').map(escapeRegExp).join('.+');
  return { text, hostPattern: new RegExp(`^${source}$`), port };
}

/** The first rule that allows `host` (lower case, no brackets, no trailing dot) on `port`, or undefined. */
export function findOutboundRule(rules: readonly OutboundRule[], host: string, port: number): OutboundRule | undefined {
  return rules.find((rule) => (rule.port === null || rule.port === port) && rule.hostPattern.test(host));
}

/** The rule an admin would add to allow exactly this destination (`host:port`, IPv6 in brackets). */
export function suggestedRule(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function splitHostPort(lowerCaseText: string, original: string): { host: string; port: number | null } {
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(lowerCaseText);
  if (bracketed) return { host: bracketed[1], port: bracketed[2] === undefined ? null : portOf(bracketed[2], original) };
  const withPort = /^([^:]+):(\d+)$/.exec(lowerCaseText);
  if (withPort) return { host: withPort[1], port: portOf(withPort[2], original) };
  if (lowerCaseText.includes(':'))
    throw new ConfigError(`--outbound-allow "${original}": write an IPv6 address in brackets, like [fd00::1]:8080`);
  return { host: lowerCaseText, port: null };
}

function portOf(digits: string, original: string): number {
  const port = Number(digits);
  if (port < 1 || port > 65535) throw new ConfigError(`--outbound-allow "${original}": the port must be from 1 to 65535`);
  return port;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
