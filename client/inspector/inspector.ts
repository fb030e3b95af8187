/**
 * The request inspector as one unit for main.ts: the store of recent requests, replay against
 * the app on its own small connection pool, comparison with the cluster through each tunnel's
 * server session, and the HTTP server on 127.0.0.1.
 */

import type { Pool } from 'undici';
import type { RequestObserver, RequestRecord } from './request-capture';
import { compareWithCluster, CompareRefusedError, type CompareCaller } from './cluster-comparison';
import { startInspectorServer } from './inspector-server';
import { replayRequest, ReplayRefusedError } from './replay';
import { RequestStore } from './request-store';
import { createAppPool } from '../forwarding/app-pool';

/** Replays run on their own connections, so they never take a slot from tunnel traffic. */
const REPLAY_CONNECTIONS = 4;

/** A running inspector. */
export interface Inspector {
  url: string;
  /** Keeps a finished request (give it every request the tunnel serves). */
  record(record: RequestRecord): void;
  /** Lets "Compare with the cluster" use tunnel `name`'s server session while it is live. */
  attachTunnel(name: string, compare: CompareCaller): void;
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
    if (!app) apps.set(target.origin, (app = createAppPool(target, REPLAY_CONNECTIONS)));
    return app;
  };
  const destroyApps = () => Promise.allSettled([...apps.values()].map((app) => app.destroy()));
  const onDone: RequestObserver = (record) => {
    store.add(record);
    options.onReplayDone(record);
  };
  const comparers = new Map<string, CompareCaller>();
  const appOf = (tunnel: string) => options.targetOf?.(tunnel) ?? options;
  const server = await startInspectorServer(
    {
      store,
      targetOf: (record) => appOf(record.tunnel).target,
      replay: (id, edits) => {
        const original = store.get(id);
        if (!original) throw new ReplayRefusedError(`no request ${id}`);
        const { target, preserveHost } = appOf(original.tunnel);
        return replayRequest(original, { app: appAt(target), target, preserveHost, onDone }, edits);
      },
      compare: (id) => {
        const original = store.get(id);
        if (!original) throw new CompareRefusedError(`no request ${id}`);
        const call = comparers.get(original.tunnel);
        if (!call) throw new CompareRefusedError(`tunnel ${original.tunnel} is not connected to its server right now`);
        return compareWithCluster(original, call);
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
    attachTunnel: (name, compare) => void comparers.set(name, compare),
    close: async () => {
      await Promise.allSettled([server.close(), destroyApps()]);
    },
  };
}
