import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
import { SpawnedProcess } from './spawned-process';

/** Pause between readiness attempts. */
const RETRY_INTERVAL_MS = 100;

/**
 * Retries GET `url` until it answers `status`, for at most `timeoutMs`. Fails early, with the
 * process's last output, when the process that should answer has exited.
 */
export async function waitForStatus(
  url: string,
  status: number,
  timeoutMs: number,
  processes: SpawnedProcess | readonly SpawnedProcess[],
): Promise<void> {
  const watched = Array.isArray(processes) ? processes : [processes as SpawnedProcess];
  const deadline = Date.now() + timeoutMs;
  let lastOutcome = 'no attempt';
  while (Date.now() < deadline) {
    const exited = watched.find((process) => !process.isRunning);
    if (exited) throw new Error(`${exited.label} exited while waiting for ${url}${exited.describeExit()}`);
    try {
      const response = await request(url, { signal: AbortSignal.timeout(2_000) });
      await response.body.dump();
      if (response.statusCode === status) return;
      lastOutcome = `status ${response.statusCode}`;
    } catch (error) {
      lastOutcome = (error as Error).message;
    }
    await delay(RETRY_INTERVAL_MS);
  }
  const details = watched.map((process) => `\n${process.label}${process.describeExit()}`).join('');
  throw new Error(`GET ${url} did not answer ${status} within ${timeoutMs} ms (last: ${lastOutcome})${details}`);
}
