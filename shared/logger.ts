/**
 * One winston logger per process: JSON lines where a machine reads them (Kubernetes, files,
 * pipes), short readable lines on a terminal. Messages are fixed phrases ("forwarded request");
 * details go in fields. Bodies and secrets are never logged.
 */

import winston from 'winston';

/** How log lines are written. */
export type LogFormat = 'json' | 'pretty';

/** The levels `--log-level` accepts, most severe first. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/** A level `--log-level` accepts. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** --log-level when none is given. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** The logger type used everywhere; `child({ requestId, tunnel })` adds fields to every line. */
export type Logger = winston.Logger;

/** Options of createLogger. */
export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Where lines go; stdout by default (tests pass their own stream). */
  stream?: NodeJS.WritableStream;
}

/** `pretty` on a terminal, otherwise `json`: the default of `--log-format`. */
export function defaultLogFormat(): LogFormat {
  return process.stdout.isTTY ? 'pretty' : 'json';
}

/** Builds the process's logger. */
export function createLogger(options: LoggerOptions): Logger {
  const stream = options.stream ?? process.stdout;
  const logger: Logger = winston.createLogger({
    level: options.level,
    // winston formats a line before its transports filter it by level: drop it first, so a
    // filtered line (an access log at --log-level warn) costs no timestamp and no JSON.
    format: winston.format.combine(
      dropFilteredLevels(() => logger),
      options.format === 'json' ? jsonFormat() : prettyFormat(),
    ),
    transports: [new winston.transports.Stream({ stream })],
  });
  return logger;
}

function dropFilteredLevels(loggerOf: () => Logger): winston.Logform.Format {
  return winston.format((info) => (loggerOf().isLevelEnabled(info.level) ? info : false))();
}

function jsonFormat(): winston.Logform.Format {
  return winston.format.combine(winston.format.timestamp(), winston.format.json());
}

function prettyFormat(): winston.Logform.Format {
  return winston.format.combine(
    winston.format.timestamp({ format: 'HH:mm:ss' }),
    winston.format.printf(({ timestamp, level, message, ...fields }) => {
      const details = Object.entries(fields)
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
        .join(' ');
      return `${String(timestamp)} ${level.padEnd(5)} ${String(message)}${details ? `  ${details}` : ''}`;
    }),
  );
}
