/** The README's quick start: `npm run demo` brings up server, demo app and client, and the page answers. */

import { execFile } from 'node:child_process';
import path from 'node:path';

jest.setTimeout(60_000);

test('the demo serves its page through a real tunnel', async () => {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [path.resolve(__dirname, '../demo/run-demo.js'), '--check'],
      { timeout: 45_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
  expect(output).toMatch(/demo ok: http:\/\/127\.0\.0\.1:\d+\/ answered \{"message":"Hello from localhost"/);
});
