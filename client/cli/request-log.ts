/**
 * `--log-file <path>`: one JSON object per finished request, appended (NDJSON), for grep and jq.
 * Lines go through a buffered file stream, so the data path never waits for the disk; if the
 * disk falls far behind, lines are dropped and counted rather than buffered without bound.
 */

import fs from 'node:fs';
import { ConfigError } from '#shared/errors';
import { loggedPath } from '#shared/trace-fields';
import type { RequestRecord } from '../inspector/request-capture';

/** Most bytes of log lines waiting for the disk before new lines are dropped. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/** The disk is written in chunks of this size. */
const WRITE_BUFFER_BYTES = 64 * 1024;

export class RequestLog {
  /** Lines dropped because the disk could not keep up. */
  droppedLines = 0;

  private constructor(private readonly stream: fs.WriteStream) {}

  /** Opens (creates or appends to) `path`; throws ConfigError when it cannot be written. */
  static open(path: string): RequestLog {
    let fd: number;
    try {
      // 0600: request lines name paths and trace ids of other people's requests. (The mode only
      // applies when the file is created; an existing file keeps the mode its owner gave it.)
      fd = fs.openSync(path, 'a', 0o600);
    } catch (error) {
      throw new ConfigError(`--log-file ${path} cannot be opened for writing: ${(error as Error).message}`, { cause: error });
    }
    const stream = fs.createWriteStream(path, { fd, highWaterMark: WRITE_BUFFER_BYTES });
    return new RequestLog(stream);
  }

  /** Appends the record's line; never blocks. */
  write(record: RequestRecord): void {
    if (this.stream.destroyed || this.stream.writableLength > MAX_PENDING_BYTES) {
      this.droppedLines++;
      return;
    }
    this.stream.write(JSON.stringify(toLogLine(record)) + '\n');
  }

  /** Flushes what is pending and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}

/** The fields of one --log-file line: standin's own first; trace fields after, never replacing them. */
export function toLogLine(record: RequestRecord): Record<string, unknown> {
  const line: Record<string, unknown> = {
    time: new Date(record.startedAt).toISOString(),
    requestId: record.requestId,
    tunnel: record.tunnel,
    method: record.method,
    path: loggedPath(record.path),
    status: record.status,
    bytesIn: record.bytesIn,
    bytesOut: record.bytesOut,
    ...(record.queuedMs !== undefined ? { queuedMs: record.queuedMs } : {}),
    appMs: record.appMs,
    totalMs: record.durationMs,
    ...(record.error ? { error: record.error } : {}),
    ...(record.outcome ? { outcome: record.outcome } : {}),
    ...(record.replayOf ? { replayOf: record.replayOf } : {}),
    ...(record.outbound ? { outbound: true } : {}),
  };
  for (const [name, value] of Object.entries(record.trace)) if (!(name in line)) line[name] = value;
  return line;
}
