/**
 * The package as users get it: `npm pack`, installed into an empty folder with production
 * dependencies only, and `standin` runs from there.
 */

import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalApp } from './helpers/local-app';
import { startServerProcess } from './helpers/processes';

jest.setTimeout(180_000);

const repository = path.resolve(__dirname, '../..');

test('the packed tarball installs with production dependencies only; `standin --help`, the API and the Vite plugin run from it', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-pack-'));
  // dist/ is already built by `npm test`; --ignore-scripts skips the prepack rebuild.
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', folder], { cwd: repository, encoding: 'utf8' }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed[0].files.map((file) => file.path);
  expect(files).toContain('dist/bin/standin.js');
  expect(files.some((file) => file.startsWith('dist/test/') || file.startsWith('test/') || file.startsWith('server/'))).toBe(false);

  fs.writeFileSync(path.join(folder, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', path.join(folder, packed[0].filename)], {
    cwd: folder,
    stdio: 'ignore',
    timeout: 150_000,
  });
  const installed = fs.readdirSync(path.join(folder, 'node_modules'));
  expect(installed).not.toContain('jest');
  expect(installed).not.toContain('typescript');

  const bin = path.join(folder, 'node_modules', '.bin', 'standin');
  const help = execFileSync(bin, ['--help'], { encoding: 'utf8' });
  expect(help).toContain('standin connect <target>');
  expect(help).toContain('standin server');
  const connectHelp = execFileSync(bin, ['connect', '--help'], { encoding: 'utf8' });
  expect(connectHelp).toContain('--server');
  expect(execFileSync(bin, ['up', '--help'], { encoding: 'utf8' })).toContain('--config');

  // The API and the Vite plugin from the installed package, typed: both entries ship .d.ts.
  expect(files).toEqual(
    expect.arrayContaining(['dist/client/api.js', 'dist/client/api.d.ts', 'dist/client/vite-plugin.js', 'dist/client/vite-plugin.d.ts']),
  );
  const server = await startServerProcess(['--poll-timeout', '2s']);
  const app = await startLocalApp((req, res) => res.end(`packed app: ${req.url}`));
  try {
    fs.writeFileSync(
      path.join(folder, 'use.mjs'),
      [
        "import { connect } from 'standin';",
        "import standin from 'standin/vite';",
        `const tunnel = await connect({ target: ${app.port}, server: '${server.url}', name: 'packed-api' });`,
        "const answer = await (await fetch(tunnel.urls.port + 'hi')).text();",
        'await tunnel.close();',
        `const plugin = standin({ server: '${server.url}' });`,
        'console.log(JSON.stringify({ answer, plugin: plugin.name, apply: plugin.apply }));',
        '',
      ].join('\n'),
    );
    const used = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['use.mjs'],
        { cwd: folder, timeout: 30_000, env: { ...process.env, HOME: folder } },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    expect(JSON.parse(used)).toEqual({ answer: 'packed app: /hi', plugin: 'standin', apply: 'serve' });
  } finally {
    await app.close();
    await server.stop();
  }
  fs.rmSync(folder, { recursive: true, force: true });
});

test('package.json names its repository and homepage, and LICENSE holds the license it declares', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(repository, 'package.json'), 'utf8')) as {
    license: string;
    repository?: { url?: string };
    homepage?: string;
  };
  expect(manifest.repository?.url).toMatch(/^git\+https:\/\//);
  expect(manifest.homepage).toMatch(/^https:\/\//);
  const license = fs.readFileSync(path.join(repository, 'LICENSE'), 'utf8');
  // The SPDX id in package.json and the text in LICENSE must agree: MIT's text starts "MIT License".
  expect(manifest.license).toBe('MIT');
  expect(license.split('\n')[0]).toBe('MIT License');
});

test('the README never tells people to `npx standin` while the package is not published', () => {
  const readme = fs.readFileSync(path.join(repository, 'README.md'), 'utf8');
  const commandLines = readme.split('\n').filter((line) => /^\s*npx standin\b/.test(line));
  expect(commandLines).toEqual([]);
});
