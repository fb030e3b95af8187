/**
 * What a new user sees when something is off: help, flag mistakes, a wrong --server, TLS
 * trouble, a taken port, an app that is not running, Ctrl-C during a stream, a closed pipe.
 */

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { echoHandler, startLocalApp, type LocalApp } from './helpers/local-app';
import { eventually, httpRequest } from './helpers/http';
import { STANDIN_BIN, spawnStandin, startClientProcess, startServerProcess, StandinProcess, type ServerProcess } from './helpers/processes';

jest.setTimeout(60_000);

let app: LocalApp;
const running: StandinProcess[] = [];
const closers: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  app = await startLocalApp((req, res) => {
    if (req.url === '/stream') {
      // A stream that stays open: an event source.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: hello\n\n');
      const timer = setInterval(() => res.write('data: tick\n\n'), 200);
      res.on('close', () => clearInterval(timer));
      return;
    }
    echoHandler()(req, res);
  });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((process) => process.stop('SIGKILL')));
  for (const close of closers.splice(0)) await close();
});

afterAll(async () => {
  await app?.close();
});

function tempHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'standin-home-'));
}

function standin(args: string[], env: Record<string, string> = {}): StandinProcess {
  const started = spawnStandin(args, { HOME: tempHome(), ...env });
  running.push(started);
  return started;
}

async function server(args: string[] = []): Promise<ServerProcess> {
  const started = await startServerProcess(args);
  running.push(started);
  return started;
}

function allOutput(process: StandinProcess): string {
  return process.lines.map((line) => JSON.stringify(line)).join('\n') + process.stderr.join('');
}

describe('help and flag parsing', () => {
  test('bare `standin` prints help and exits 0', () => {
    const help = execFileSync(process.execPath, [STANDIN_BIN], { encoding: 'utf8' });
    expect(help).toContain('standin connect <target>');
    expect(help).toContain('Examples:');
  });

  test('each command help has examples, marks --server required and names the env vars', () => {
    for (const command of ['connect', 'status']) {
      const help = execFileSync(process.execPath, [STANDIN_BIN, command, '--help'], { encoding: 'utf8' });
      expect(help).toContain('Examples:');
      expect(help).toMatch(/--server +URL of the standin server[^[]*\[string\] \[required\]/);
      expect(help).toContain('STANDIN_SERVER');
    }
    const serverHelp = execFileSync(process.execPath, [STANDIN_BIN, 'server', '--help'], { encoding: 'utf8' });
    expect(serverHelp).toContain('Examples:');
    expect(serverHelp.replace(/\s+/g, ' ')).toContain('--max-ttl STANDIN_MAX_TTL');
  });

  test('an unknown flag gets a suggestion, an unknown command too, and a missing target says what to give', async () => {
    const typo = standin(['connect', '3000', '--servr', 'http://127.0.0.1:1']);
    expect(await typo.exitedWithin()).toBe(2);
    expect(typo.stderr.join('')).toContain('unknown flag --servr: did you mean --server?');
    const command = standin(['conect', '3000']);
    expect(await command.exitedWithin()).toBe(2);
    expect(command.stderr.join('')).toContain('did you mean "standin connect"?');
    const noTarget = standin(['connect', '--server', 'http://127.0.0.1:1']);
    expect(await noTarget.exitedWithin()).toBe(2);
    expect(noTarget.stderr.join('')).toContain('standin connect needs the app to forward to: a port (standin connect 3000)');
    expect(noTarget.stderr.join('')).not.toContain('non-option');
  });

  test('a duration without a unit is refused with the units to choose from', async () => {
    const bare = standin(['server', '--listen', '0', '--max-ttl', '12']);
    expect(await bare.exitedWithin()).toBe(2);
    expect(bare.stderr.join('')).toContain('--max-ttl "12" has no unit: write 12s, 12m or 12h');
    const ttl = standin(['connect', '3000', '--server', 'http://127.0.0.1:1', '--ttl', '2']);
    expect(await ttl.exitedWithin()).toBe(2);
    expect(ttl.stderr.join('')).toContain('--ttl "2" has no unit');
  });

  test('URL flags take a bare host:port: --fallback host:port, status --server ip:port, connect localhost:port', async () => {
    const fallbackApp = await startLocalApp((_req, res) => res.end('from the cluster app'));
    closers.push(() => fallbackApp.close());
    const withFallback = await server(['--fallback', `localhost:${fallbackApp.port}`]);
    expect((await httpRequest(`${withFallback.url}/shop/`)).text).toBe('from the cluster app');
    const client = await startClientProcess(`localhost:${app.port}`, `127.0.0.1:${withFallback.mainPort}`, [
      '--name',
      'bare-host',
      '--no-inspect',
    ]);
    running.push(client);
    expect(client.lines.find((line) => line.message === 'tunnel ready')?.target).toBe(`http://localhost:${app.port}`);
    const status = execFileSync(process.execPath, [STANDIN_BIN, 'status', '--server', `127.0.0.1:${withFallback.mainPort}`], {
      encoding: 'utf8',
    });
    expect(status).toContain('bare-host');
    const bad = standin(['status', '--server', 'http://[not a host']);
    expect(await bad.exitedWithin()).toBe(2);
    expect(bad.stderr.join('')).toContain('--server "http://[not a host" is not a URL');
  });
});

describe('a wrong --server', () => {
  test('a web server that is not standin: exit 2 at once with "not a standin server"', async () => {
    const website = await startLocalApp((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>Not Found</h1>');
    });
    closers.push(() => website.close());
    const client = standin(['connect', String(app.port), '--server', `http://127.0.0.1:${website.port}`]);
    expect(await client.exitedWithin(8_000)).toBe(2);
    expect(allOutput(client)).toContain(
      `http://127.0.0.1:${website.port} is not a standin server: it answered the registration with HTTP 404 (text/html)`,
    );
  });

  test('a redirect (say, to https) names the place it points to', async () => {
    const redirecting = await startLocalApp((_req, res) => {
      res.writeHead(308, { location: 'https://standin.example.test/_standin/v1/tunnels' });
      res.end();
    });
    closers.push(() => redirecting.close());
    const client = standin(['connect', String(app.port), '--server', `http://127.0.0.1:${redirecting.port}`]);
    expect(await client.exitedWithin(8_000)).toBe(2);
    expect(allOutput(client)).toContain('redirects the registration to https://standin.example.test/_standin/v1/tunnels');
  });

  test('a self-signed certificate is explained in plain words and ends the client (exit 2)', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        path.join(folder, 'key.pem'),
        '-out',
        path.join(folder, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
      ],
      { stdio: 'ignore', timeout: 20_000 },
    );
    const tlsServer = https.createServer(
      { key: fs.readFileSync(path.join(folder, 'key.pem')), cert: fs.readFileSync(path.join(folder, 'cert.pem')) },
      (_req, res) => res.end(),
    );
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => tlsServer.close(() => resolve())));
    const client = standin(['connect', String(app.port), '--server', `https://127.0.0.1:${(tlsServer.address() as net.AddressInfo).port}`]);
    expect(await client.exitedWithin(8_000)).toBe(2);
    expect(allOutput(client)).toContain("the server's TLS certificate is self-signed");
  });
});

describe('warnings at start', () => {
  test('a preferred port held by another tunnel: the client says which port it got instead', async () => {
    const standinServer = await server();
    const wanted = standinServer.portRange.from + 5;
    const holder = await startClientProcess(String(app.port), standinServer.url, [
      '--name',
      'holder',
      '--port',
      String(wanted),
      '--no-inspect',
    ]);
    running.push(holder);
    const other = await startClientProcess(String(app.port), standinServer.url, [
      '--name',
      'other',
      '--port',
      String(wanted),
      '--no-inspect',
    ]);
    running.push(other);
    const warning = await other.waitForLine((line) => line.wantedPort === wanted);
    expect(warning.message).toBe(`port ${wanted} is taken or outside the server's range, so this tunnel got port ${other.port}`);
  });

  test('nothing listening on the target: the client warns at start', async () => {
    const standinServer = await server();
    const gone = await startLocalApp(echoHandler());
    await gone.close();
    const client = await startClientProcess(String(gone.port), standinServer.url, ['--name', 'no-app-yet', '--no-inspect']);
    running.push(client);
    const warning = await client.waitForLine((line) => line.level === 'warn' && String(line.message).startsWith('nothing answers on'));
    expect(warning.message).toContain(`http://localhost:${gone.port}`);
  });

  test('a server whose whole tunnel port range is held by other processes warns at start', async () => {
    const holders: net.Server[] = [];
    for (let i = 0; i < 2; i++)
      holders.push(
        await new Promise<net.Server>((resolve) => {
          const held = net.createServer().listen(0, '0.0.0.0', () => resolve(held));
        }),
      );
    closers.push(() => holders.forEach((held) => held.close()));
    const heldPort = (holders[0].address() as net.AddressInfo).port;
    const standinServer = spawnStandin(['server', '--listen', '0', '--ports', `${heldPort}-${heldPort}`]);
    running.push(standinServer);
    const warning = await standinServer.waitForLine((line) => String(line.message).startsWith('every tunnel port'));
    expect(warning.message).toContain(`every tunnel port in ${heldPort}-${heldPort} is in use by another process`);
  });
});

describe('stopping', () => {
  test('Ctrl-C with a stream open says what it waits for; a second Ctrl-C stops at once', async () => {
    const standinServer = await server();
    const client = await startClientProcess(String(app.port), standinServer.url, ['--name', 'streaming', '--no-inspect']);
    running.push(client);
    const streamRequest = http.get(`${client.publicUrl}/stream`);
    streamRequest.on('error', () => {});
    await new Promise<void>((resolve) => streamRequest.once('response', () => resolve()));
    client.child.kill('SIGINT');
    const waiting = await client.waitForLine((line) => line.requests === 1);
    expect(waiting.message).toBe('waiting for 1 request to finish, Ctrl-C again to force');
    client.child.kill('SIGINT');
    expect(await client.exitedWithin(3_000)).toBe(1);
    streamRequest.destroy();
  });

  test('`standin connect … | head`: a closed stdout stops the client quietly, without an EPIPE stack', async () => {
    const standinServer = await server();
    const child = spawn(
      process.execPath,
      [
        STANDIN_BIN,
        'connect',
        String(app.port),
        '--server',
        standinServer.url,
        '--name',
        'piped',
        '--no-inspect',
        '--log-format',
        'pretty',
      ],
      {
        env: { ...process.env, HOME: tempHome() },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const client = new StandinProcess(child);
    running.push(client);
    await client.waitForLine((line) => String(line.message).includes('Ctrl-C releases the tunnel'));
    // Like `head` exiting: the reading end of the pipe goes away.
    child.stdout.destroy();
    const port = standinServer.portRange.from;
    await eventually(
      async () => {
        await httpRequest(`http://127.0.0.1:${port}/`).catch(() => undefined);
        return child.exitCode !== null;
      },
      10_000,
      200,
    );
    expect(child.exitCode).toBe(0);
    expect(client.stderr.join('')).not.toMatch(/EPIPE|Error:/);
  });
});

describe('server start', () => {
  test('the server prints its dashboard, modes, fallback and the exact connect line, never the token', async () => {
    const started = await server(['--token', 'secret-token-4242', '--fallback', 'http://127.0.0.1:1', '--bind', '127.0.0.1']);
    const listening = started.lines.find((line) => line.message === 'standin server listening');
    expect(listening).toMatchObject({
      dashboardUrl: `http://127.0.0.1:${started.mainPort}/_standin/`,
      fallback: 'http://127.0.0.1:1',
      portMode: `on: each tunnel gets a port of ${started.portRange.from}-${started.portRange.to}`,
      connectCommand: `STANDIN_TOKEN=<token> standin connect 3000 --server http://127.0.0.1:${started.mainPort}`,
    });
    expect(JSON.stringify(started.lines)).not.toContain('secret-token-4242');
    const pretty = standin(['server', '--listen', '0', '--ports', 'none', '--log-format', 'pretty', '--bind', '127.0.0.1']);
    // The banner's own line (indented), not the "listening" log line, which names the same command.
    await pretty.waitForLine((line) => /^\s+standin connect 3000 --server http:\/\/127\.0\.0\.1:/.test(String(line.message)));
    const banner = pretty.lines.map((line) => line.message).join('\n');
    expect(banner).toContain('Dashboard      http://127.0.0.1:');
    expect(banner).toContain('Port mode      off (--ports none)');
    expect(banner).toContain('Fallback       none: main-port traffic that selects no tunnel gets 404 no_tunnel');
    expect(banner).toContain('NO TOKEN SET');
  });
});
