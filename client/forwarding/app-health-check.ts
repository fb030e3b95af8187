/**
 * The client's half of a health probe: is the local app there? By default the app passes when it
 * accepts a TCP connection (any app does, whatever its routes); with --health-path it must answer
 * a GET there with a non-5xx status. The check never goes through the request log.
 */

import net from 'node:net';
import { BOTH_LOOPBACKS } from './loopback-lookup';
import type { Dispatcher } from 'undici';

/** How long one check may take before it counts as failed. */
export const APP_CHECK_TIMEOUT_MS = 5_000;

/** The outcome of one check of the local app. */
export interface AppCheckResult {
  ok: boolean;
  error?: string;
}

/** Checks the app at `target`: a GET of `healthPath` through `app` when given, else a TCP connect. */
export function checkApp(target: URL, app: Dispatcher, healthPath: string | undefined): Promise<AppCheckResult> {
  return healthPath === undefined ? checkTcp(target) : checkHttp(target, app, healthPath);
}

/** Whether the app at `target` accepts a TCP connection (any address `localhost` resolves to). */
export function checkTcp(target: URL): Promise<AppCheckResult> {
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, ...BOTH_LOOPBACKS });
    const done = (result: AppCheckResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(APP_CHECK_TIMEOUT_MS, () =>
      done({ ok: false, error: `no connection to ${target.host} within ${APP_CHECK_TIMEOUT_MS / 1000} s` }),
    );
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done({ ok: false, error: `could not connect to the local app at ${target.host} (${error.code ?? error.message})` }),
    );
  });
}

async function checkHttp(target: URL, app: Dispatcher, healthPath: string): Promise<AppCheckResult> {
  try {
    const response = await app.request({
      origin: target.origin,
      method: 'GET',
      path: healthPath,
      headers: { host: target.host, 'user-agent': 'standin-health-check' },
      headersTimeout: APP_CHECK_TIMEOUT_MS,
      bodyTimeout: APP_CHECK_TIMEOUT_MS,
    });
    await response.body.dump();
    if (response.statusCode >= 500) return { ok: false, error: `GET ${healthPath} answered ${response.statusCode}` };
    return { ok: true };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, error: `GET ${healthPath} failed: ${code ?? (error as Error).message}` };
  }
}
