/**
 * The client's last-resort handler: a stray exception or unhandled rejection is logged and the
 * process keeps running; a fault that keeps repeating ends it with status 1. Run in a child
 * process, since the handlers are process-wide.
 */

import { spawnSync } from 'node:child_process';
import path from 'node:path';

const HANDLER = path.resolve(__dirname, '../client/cli/last-resort-handler.js');
const LOGGER = path.resolve(__dirname, '..', 'shared', 'logger.js');

function runScript(body: string): { status: number | null; stdout: string } {
  const script = `
    const { keepRunningOnUncaughtErrors } = require(${JSON.stringify(HANDLER)});
    const { createLogger } = require(${JSON.stringify(LOGGER)});
    keepRunningOnUncaughtErrors(createLogger({ format: 'json', level: 'info' }));
    ${body}
  `;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stdout: result.stdout };
}

test('an uncaught exception and an unhandled rejection are logged and the process goes on', () => {
  const { status, stdout } = runScript(`
    setTimeout(() => { throw new Error('boom in a callback'); }, 10);
    setTimeout(() => Promise.reject(new Error('rejected and forgotten')), 20);
    setTimeout(() => { console.log('still alive'); process.exit(0); }, 200);
  `);
  expect(status).toBe(0);
  expect(stdout).toContain('still alive');
  expect(stdout).toContain('boom in a callback');
  expect(stdout).toContain('rejected and forgotten');
  expect(stdout).toContain('internal error, the tunnel keeps running');
});

test('a fault that keeps repeating ends the process with status 1', () => {
  const { status, stdout } = runScript(`
    for (let i = 0; i < 30; i++) setTimeout(() => { throw new Error('again ' + i); }, i);
    setTimeout(() => { console.log('still alive'); process.exit(0); }, 500);
  `);
  expect(status).toBe(1);
  expect(stdout).toContain('too many internal errors, stopping');
  expect(stdout).not.toContain('still alive');
});
