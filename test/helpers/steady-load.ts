/**
 * Steady browser traffic for tests: a fixed number of requests per second to each target,
 * every request bounded in time and recorded (when it started and ended, status, which
 * replica served it, whether the body was the expected one), so a test can say which requests
 * failed and when.
 */

import http from 'node:http';

/** One stream of requests: a URL, optional headers, and the body that proves the right app answered. */
export interface LoadTarget {
  /** A label for the figures, such as the tunnel name and the routing mode. */
  label: string;
  url: string;
  headers?: http.OutgoingHttpHeaders;
  expectedBody: string;
}

/** What happened to one request. */
export interface LoadResult {
  label: string;
  startedAt: number;
  endedAt: number;
  /** HTTP status, or null when the connection failed. */
  status: number | null;
  ok: boolean;
  /** Why it failed: an error message, or the status and X-Standin-Error. */
  failure?: string;
  /** X-Upstream-Addr from nginx: the replica that served it. */
  upstream?: string;
  /** The X-Request-Id it was sent with, to find it in the replicas' and clients' logs. */
  requestId: string;
}

/** Latency figures of a set of results, in ms. */
export interface LoadSummary {
  total: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const TICK_MS = 10;

export class SteadyLoad {
  private readonly results: LoadResult[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** Requests sent so far (numbers their X-Request-Id). */
  private sent = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private timer: NodeJS.Timeout | undefined;

  /**
   * `requestsPerSecond` to each target, until stop(); each request gives up after
   * `requestTimeoutMs`. Sending is paced on elapsed time, so a late timer catches up instead
   * of lowering the rate.
   */
  constructor(
    private readonly targets: readonly LoadTarget[],
    private readonly requestsPerSecond: number,
    private readonly requestTimeoutMs = 10_000,
  ) {}

  start(): void {
    const startedAt = Date.now();
    let sentPerTarget = 0;
    this.timer = setInterval(() => {
      const due = Math.floor(((Date.now() - startedAt) / 1000) * this.requestsPerSecond);
      for (; sentPerTarget < due; sentPerTarget++) {
        for (const target of this.targets) this.track(this.send(target));
      }
    }, TICK_MS);
  }

  /** Stops sending, waits for the requests in flight (each is bounded) and returns every result. */
  async stop(): Promise<LoadResult[]> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
    this.agent.destroy();
    return [...this.results].sort((a, b) => a.startedAt - b.startedAt);
  }

  private track(request: Promise<void>): void {
    this.inFlight.add(request);
    void request.finally(() => this.inFlight.delete(request));
  }

  private send(target: LoadTarget): Promise<void> {
    const startedAt = Date.now();
    const requestId = `load-${++this.sent}-${startedAt}`;
    return new Promise((resolve) => {
      // Settled once: a connection that breaks mid-response can report on both req and res.
      let settled = false;
      const finish = (result: Omit<LoadResult, 'label' | 'startedAt' | 'endedAt' | 'requestId'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        this.results.push({ label: target.label, startedAt, endedAt: Date.now(), requestId, ...result });
        resolve();
      };
      const req = http.request(target.url, { headers: { ...target.headers, 'x-request-id': requestId }, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => finish({ status: res.statusCode ?? null, ok: false, failure: `response broke: ${error.message}` }));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const upstream = typeof res.headers['x-upstream-addr'] === 'string' ? res.headers['x-upstream-addr'] : undefined;
          const ok = res.statusCode === 200 && body === target.expectedBody;
          const failure = ok ? undefined : `${res.statusCode} ${String(res.headers['x-standin-error'] ?? '')} ${body.slice(0, 80)}`;
          finish({ status: res.statusCode ?? null, ok, failure, upstream });
        });
      });
      // From the moment it is sent, not from when the agent hands it a socket: a request queued
      // behind slow ones counts its wait too, as a browser's does.
      const deadline = setTimeout(() => {
        finish({ status: null, ok: false, failure: `no answer within ${this.requestTimeoutMs} ms` });
        req.destroy();
      }, this.requestTimeoutMs);
      req.on('error', (error) => finish({ status: null, ok: false, failure: error.message }));
      req.end();
    });
  }
}

/** Counts, failures and latency percentiles of `results`. */
export function summarize(results: readonly LoadResult[]): LoadSummary {
  const durations = results.map((result) => result.endedAt - result.startedAt).sort((a, b) => a - b);
  const percentile = (p: number) => durations[Math.min(durations.length - 1, Math.floor((p / 100) * durations.length))] ?? 0;
  return {
    total: results.length,
    failed: results.filter((result) => !result.ok).length,
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    maxMs: durations[durations.length - 1] ?? 0,
  };
}
