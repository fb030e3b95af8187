/**
 * `standin up` as a developer runs it: a standin.yaml with three tunnels found from a subfolder
 * of the project, one real server, three real local apps; each tunnel serves its own app, the
 * terminal lines carry each tunnel's key, one inspector sees all three; Ctrl-C releases them.
 * And a bad file: the message names the line and the key of each mistake.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveProjectConfig } from '../client/cli/project-config';
import { clientOptions } from '../client/cli/config';
import yargs from 'yargs';
import { httpRequest } from './helpers/http';
import { startLocalApp, type LocalApp } from './helpers/local-app';
import { spawnStandin, startServerProcess, type ServerProcess, type StandinProcess } from './helpers/processes';

jest.setTimeout(90_000);

let server: ServerProcess;
const apps: LocalApp[] = [];
let project: string;
let home: string;

beforeAll(async () => {
  server = await startServerProcess(['--token', 'up-secret', '--poll-timeout', '2s']);
  for (const which of ['shop', 'api', 'admin']) {
    apps.push(await startLocalApp((req, res) => res.end(`${which} app: ${req.url}`)));
  }
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-up-project-'));
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-up-home-'));
  fs.mkdirSync(path.join(project, 'src', 'components'), { recursive: true });
  fs.writeFileSync(path.join(project, '.standin-token'), 'up-secret\n');
});

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await server?.stop();
  for (const dir of [project, home]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function threeTunnels(logFormat: 'json' | 'pretty', suffix: string): string {
  return [
    `server: ${server.url}`,
    'token-file: .standin-token',
    'inspect: 0',
    `log-format: ${logFormat}`,
    'tunnels:',
    '  shop:',
    `    target: ${apps[0].port}`,
    `    name: up-shop-${suffix}`,
    '  api:',
    `    target: http://localhost:${apps[1].port}`,
    `    name: up-api-${suffix}`,
    '    preserve-host: true',
    '    concurrency: 2',
    '  admin:',
    `    target: ${apps[2].port}`,
    `    name: up-admin-${suffix}`,
    '    ttl: 30m',
    '',
  ].join('\n');
}

test('three tunnels from standin.yaml in one process, one inspector, lines named by tunnel; Ctrl-C releases all', async () => {
  fs.writeFileSync(path.join(project, 'standin.yaml'), threeTunnels('json', 'a'));
  const child = spawnStandinIn(path.join(project, 'src', 'components'), ['up']);
  try {
    const ready = await Promise.all(
      ['shop', 'api', 'admin'].map((key) => child.waitForLine((line) => line.message === 'tunnel ready' && line.tunnelKey === key, 20_000)),
    );
    expect(ready.map((line) => line.tunnel)).toEqual(['up-shop-a', 'up-api-a', 'up-admin-a']);
    const inspectorUrls = new Set(ready.map((line) => line.inspectorUrl));
    expect(inspectorUrls.size).toBe(1);
    expect([...inspectorUrls][0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);

    for (const [index, key] of ['shop', 'api', 'admin'].entries()) {
      const answer = await httpRequest(`http://127.0.0.1:${String(ready[index].port)}/from-${key}`);
      expect(answer.body.toString()).toBe(`${key} app: /from-${key}`);
      await child.waitForLine(
        (line) => line.message === 'request' && line.tunnelKey === key && line.path === `/from-${key}` && line.tunnel === `up-${key}-a`,
      );
    }
    const listed = JSON.parse(
      (await httpRequest(`${String([...inspectorUrls][0]).replace(/\/$/, '')}/api/requests`)).body.toString(),
    ) as Array<{ path: string }>;
    expect(new Set(listed.map((request) => request.path))).toEqual(new Set(['/from-shop', '/from-api', '/from-admin']));

    expect(await child.stop('SIGINT')).toBe(0);
    for (const line of ready) {
      const after = await httpRequest(`http://127.0.0.1:${String(line.port)}/`, { timeoutMs: 5_000 }).catch(() => null);
      expect(after?.body.toString() ?? '').not.toContain('app:');
    }
  } finally {
    await child.stop('SIGKILL');
  }
});

test("pretty output starts each tunnel's lines with its key", async () => {
  fs.writeFileSync(path.join(project, 'pretty.yaml'), threeTunnels('pretty', 'b'));
  const child = spawnStandinIn(project, ['up', '--config', 'pretty.yaml', '--log-format', 'pretty']);
  try {
    for (const key of ['shop', 'api', 'admin'])
      await child.waitForLine(
        (line) =>
          String(line.message).startsWith(`[${key.padEnd(5)}] `) &&
          String(line.message).includes(`up-${key}-b`) &&
          String(line.message).includes('is live'),
        20_000,
      );
    const shopPort = Number(
      /:(\d+)\//.exec(String((await child.waitForLine((line) => String(line.message).startsWith('[shop ]   Port URL'))).message))?.[1],
    );
    await httpRequest(`http://127.0.0.1:${shopPort}/pretty`);
    await child.waitForLine((line) => String(line.message).startsWith('[shop ] ') && String(line.message).includes('/pretty'));
    expect(await child.stop('SIGINT')).toBe(0);
  } finally {
    await child.stop('SIGKILL');
  }
});

test('a bad standin.yaml: exit 2, and each mistake named with its line and key', async () => {
  const file = path.join(project, 'bad.yaml');
  fs.writeFileSync(
    file,
    [
      `server: ${server.url}`, // 1
      'tunnels:', // 2
      '  shop:', // 3
      '    target: 5173', // 4
      '    targt: 5174', // 5
      '  api:', // 6
      '    target: 8080', // 7
      '    concurrency: many', // 8
      '    name: Not_A_Label', // 9
      '',
    ].join('\n'),
  );
  const child = spawnStandinIn(project, ['up', '--config', 'bad.yaml']);
  expect(await child.exitedWithin(15_000)).toBe(2);
  const message = child.stderr.join('');
  expect(message).toContain(`${file}:5: tunnels.shop.targt: unknown key`);
  expect(message).toMatch(new RegExp(`${escape(file)}:8: tunnels\\.api\\.concurrency: .*number`));
  expect(message).toContain(`${file}:9: tunnels.api.name: not a DNS label`);
});

test('no standin.yaml here or above: exit 2 with what to do', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-up-empty-'));
  try {
    const child = spawnStandinIn(empty, ['up']);
    expect(await child.exitedWithin(15_000)).toBe(2);
    expect(child.stderr.join('')).toContain('no standin.yaml');
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

describe('standin.yaml checks (in process)', () => {
  const check = (text: string) => {
    try {
      resolveProjectConfig(text, 'standin.yaml');
      return 'accepted';
    } catch (error) {
      return (error as Error).message;
    }
  };

  test('YAML syntax errors and repeated keys carry their line', () => {
    expect(check('server: http://s\ntunnels:\n  shop:\n    target: [5173\n')).toMatch(/^standin\.yaml:[45]: /);
    expect(check('server: http://s\ntunnels:\n  shop:\n    target: 1\n    target: 2\n')).toMatch(/^standin\.yaml:5: /);
  });

  test('mistakes at the top, in a tunnel, and in what only the CLI parser checks', () => {
    expect(check('server: ftp://s\ntunnels:\n  shop: { target: 1 }\n')).toMatch(/^standin\.yaml:1: server: /);
    expect(check('tunnels: {}\n')).toMatch(/^standin\.yaml:1: tunnels: name at least one tunnel/);
    expect(check('server: http://s\ntunnels:\n  shop:\n    target: 1\n    ttl: soon\n')).toMatch(
      /^standin\.yaml:3: tunnels\.shop: --ttl "soon"/,
    );
    expect(check('tunnels:\n  shop:\n    target: 1\n')).toMatch(/^standin\.yaml:2: tunnels\.shop: no server/);
    expect(check('server: http://s\ntunnels:\n  a: { target: 1, name: same }\n  b: { target: 2, name: same }\n')).toMatch(
      /^standin\.yaml:4: tunnels\.b\.name: "same" is also/,
    );
    expect(check('server: http://s\ntunnels:\n  shop: { target: 1, inspect: 4041 }\n')).toMatch(
      /^standin\.yaml:3: tunnels\.shop\.inspect: unknown key/,
    );
  });

  test('every flag of standin connect but the per-process ones can be set per tunnel', () => {
    const flags = Object.keys(
      (clientOptions(yargs([]).command('$0 <target>', '')) as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions()
        .key,
    );
    const perProcess = new Set(['inspect', 'log-format', 'log-level', 'log-query', 'log-header', 'token-file', 'help', 'version']);
    for (const flag of flags.filter((key) => !perProcess.has(key) && key !== 'target' && !key.includes('_'))) {
      const value =
        flag === 'port' || flag === 'concurrency' || flag === 'max-reconnect-delay' || flag === 'cluster-proxy'
          ? 3
          : ['preserve-host', 'renew', 'reconnect', 'quiet', 'private'].includes(flag)
            ? true
            : flag === 'health-path'
              ? '/h'
              : flag === 'ttl'
                ? '1h'
                : flag === 'server'
                  ? 'http://other'
                  : flag === 'name'
                    ? 'n1'
                    : 'x';
      expect([flag, check(`server: http://s\ntunnels:\n  shop:\n    target: 1\n    ${flag}: ${JSON.stringify(value)}\n`)]).toEqual([
        flag,
        'accepted',
      ]);
    }
  });
});

/** `standin <args>` started in `cwd` (the child inherits the working directory at spawn). */
function spawnStandinIn(cwd: string, args: string[]): StandinProcess {
  const previous = process.cwd();
  process.chdir(cwd);
  try {
    return spawnStandin(args, { HOME: home });
  } finally {
    process.chdir(previous);
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
