/**
 * The request inspector as one unit for main.ts: the store of recent requests, replay against
 * the app on its own small connection pool, and the HTTP server on 127.0.0.1.
 */

import { Pool } from 'undici';
import type { RequestObserver, RequestRecord } from '../request-capture';
import { startInspectorServer } from './inspector-server';
import { replayRequest, ReplayRefusedError } from './replay';
import { RequestStore } from './request-store';

/** Replays run on their own connections, so they never take a slot from tunnel traffic. */
const REPLAY_CONNECTIONS = 4;

/** A running inspector. */
export interface Inspector {
  url: string;
  /** Keeps a finished request (give it every request the tunnel serves). */
  record(record: RequestRecord): void;
  close(): Promise<void>;
}

/** Options of startInspector. */
export interface InspectorOptions {
  /** First port to try; the next free one is used when it is taken. */
  port: number;
  target: URL;
  preserveHost: boolean;
  /** Gets each replay's record (terminal line, log file); the inspector keeps it itself. */
  onReplayDone: RequestObserver;
  /** With several tunnels (standin up): the app a request of `tunnel` is replayed to, if not `target`. */
  targetOf?: (tunnel: string) => { target: URL; preserveHost: boolean } | undefined;
}

export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const store = new RequestStore();
  // Like the tunnel's own pool: local dev servers on https use self-signed certificates.
  const apps = new Map<string, Pool>();
  const appAt = (target: URL) => {
    let app = apps.get(target.origin);
    if (!app) apps.set(target.origin, (app = new Pool(target.origin, { connections: REPLAY_CONNECTIONS, connect: { rejectUnauthorized: false } })));
    return app;
  };
  const destroyApps = () => Promise.allSettled([...apps.values()].map((app) => app.destroy()));
  const onDone: RequestObserver = (record) => {
    store.add(record);
    options.onReplayDone(record);
  };
  const server = await startInspectorServer(
    {
      store,
      replay: (id) => {
        const original = store.get(id);
        if (!original) throw new ReplayRefusedError(`no request ${id}`);
        const { target, preserveHost } = options.targetOf?.(original.tunnel) ?? options;
        return replayRequest(original, { app: appAt(target), target, preserveHost, onDone });
      },
    },
    options.port,
  ).catch(async (error: Error) => {
    await destroyApps();
    throw error;
  });
  return {
    url: server.url,
    record: (record) => store.add(record),
    close: async () => {
      await Promise.allSettled([server.close(), destroyApps()]);
    },
  };
}
