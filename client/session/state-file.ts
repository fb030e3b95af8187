/**
 * ~/.standin/state.json: what the client remembers between runs, per server and tunnel name:
 * the port it got, so a developer keeps "their" port across restarts, and the name's claim key,
 * which proves to a shared-token server that this machine holds the name. The file holds a
 * secret, so it is written with mode 0600 in a 0700 directory. Losing it costs the port and,
 * with a shared token, the name until its claim lapses (or an admin releases it); read errors
 * are therefore ignored.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface RememberedTunnel {
  port: number | null;
  /** The key the server gave when this machine first claimed the name. */
  claimKey?: string;
  updatedAt: string;
}

interface StateFile {
  /** By server URL, then tunnel name. */
  tunnels: Record<string, Record<string, RememberedTunnel>>;
}

/** Path of the state file (under $HOME, which tests point elsewhere). */
export function stateFilePath(): string {
  return path.join(os.homedir(), '.standin', 'state.json');
}

/** The port `name` had last time on `server`, if remembered. */
export function rememberedPort(server: URL, name: string): number | undefined {
  return read().tunnels[server.origin]?.[name]?.port ?? undefined;
}

/** The claim key of `name` on `server`, if this machine holds one. */
export function rememberedClaimKey(server: URL, name: string): string | undefined {
  const key = read().tunnels[server.origin]?.[name]?.claimKey;
  return typeof key === 'string' ? key : undefined;
}

/** Remembers the port `name` got on `server`, and its claim key when a new one was given (an old one is kept otherwise). */
export function rememberTunnel(server: URL, name: string, port: number | null, claimKey?: string): void {
  const state = read();
  state.tunnels[server.origin] ??= {};
  const previous = state.tunnels[server.origin][name];
  const key = claimKey ?? previous?.claimKey;
  state.tunnels[server.origin][name] = { port, ...(key ? { claimKey: key } : {}), updatedAt: new Date().toISOString() };
  try {
    fs.mkdirSync(path.dirname(stateFilePath()), { recursive: true, mode: 0o700 });
    const temporary = `${stateFilePath()}.${process.pid}.tmp`;
    // Created 0600 from the start (not chmod-ed after), so the key is never readable by others.
    fs.writeFileSync(temporary, JSON.stringify(state, null, 2), { mode: 0o600 });
    // Rename is atomic, so two clients starting at once never leave a half-written file.
    fs.renameSync(temporary, stateFilePath());
  } catch {
    // A read-only home only loses the remembered port and key.
  }
}

function read(): StateFile {
  try {
    const parsed = JSON.parse(fs.readFileSync(stateFilePath(), 'utf8')) as Partial<StateFile>;
    if (parsed && typeof parsed.tunnels === 'object' && parsed.tunnels !== null) return { tunnels: parsed.tunnels };
  } catch {
    // Missing or unreadable: start afresh.
  }
  return { tunnels: {} };
}
