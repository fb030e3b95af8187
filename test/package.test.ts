/**
 * The package as users get it: `npm pack`, installed into an empty folder with production
 * dependencies only, and `standin` runs from there.
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

jest.setTimeout(180_000);

const repository = path.resolve(__dirname, '../..');

test('the packed tarball installs with production dependencies only and `standin --help` runs', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-pack-'));
  // dist/ is already built by `npm test`; --ignore-scripts skips the prepack rebuild.
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', folder], { cwd: repository, encoding: 'utf8' })) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed[0].files.map((file) => file.path);
  expect(files).toContain('dist/bin/standin.js');
  expect(files.some((file) => file.startsWith('dist/test/') || file.startsWith('test/') || file.startsWith('server/'))).toBe(false);

  fs.writeFileSync(path.join(folder, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', path.join(folder, packed[0].filename)], { cwd: folder, stdio: 'ignore', timeout: 150_000 });
  const installed = fs.readdirSync(path.join(folder, 'node_modules'));
  expect(installed).not.toContain('jest');
  expect(installed).not.toContain('typescript');

  const bin = path.join(folder, 'node_modules', '.bin', 'standin');
  const help = execFileSync(bin, ['--help'], { encoding: 'utf8' });
  expect(help).toContain('standin connect <target>');
  expect(help).toContain('standin server');
  const connectHelp = execFileSync(bin, ['connect', '--help'], { encoding: 'utf8' });
  expect(connectHelp).toContain('--server');
  fs.rmSync(folder, { recursive: true, force: true });
});
