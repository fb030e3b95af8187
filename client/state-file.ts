/**
 * ~/.standin/state.json: what the client remembers between runs, so a developer keeps "their"
 * tunnel name and port across restarts. Losing this file only costs that convenience, so read
 * errors are ignored.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface RememberedTunnel {
  port: number | null;
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

/** Remembers the port `name` got on `server`. */
export function rememberPort(server: URL, name: string, port: number | null): void {
  const state = read();
  state.tunnels[server.origin] ??= {};
  state.tunnels[server.origin][name] = { port, updatedAt: new Date().toISOString() };
  try {
    fs.mkdirSync(path.dirname(stateFilePath()), { recursive: true });
    const temporary = `${stateFilePath()}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(state, null, 2));
    // Rename is atomic, so two clients starting at once never leave a half-written file.
    fs.renameSync(temporary, stateFilePath());
  } catch {
    // A read-only home only loses the remembered port.
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
