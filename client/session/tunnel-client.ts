/**
 * The running tunnel on the developer's machine: registers, keeps --concurrency polls open, and
 * replays each request it receives against the local app. It owns the connections and composes
 * the parts, each in its own module:
 * - registration.ts: the first registration, reconnect and renewal, release;
 * - poll-slots.ts: one poll slot's loop and what it does after a failure;
 * - request-serving.ts: a request, a batch or a probe a poll brought, replayed and answered;
 * - answer-sender.ts: the respond POSTs (single, grouped, streamed, after interim responses);
 * - tunnel-run.ts and requests-in-progress.ts: the run's state and its end, what stop() waits for.
 */

import type { Dispatcher, Pool } from 'undici';
import type { CompareRequest, CompareResponse } from '#shared/protocol/compare';
import { StandinError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import { POLL_GRACE_MS } from '#shared/protocol/limits';
import type { RegisterResponse } from '#shared/protocol/messages';
import type { ClientConfig } from '../cli/config';
import type { Terminal } from '../cli/terminal';
import { MAX_OUTBOUND_CALLS, type OutboundCall } from '../cluster-proxy/cluster-proxy';
import { MAX_CLIENT_UPGRADES, UpgradeForwarder } from '../forwarding/forward-upgrade';
import { createAppPool } from '../forwarding/app-pool';
import { PREVIEW_CAP_BYTES } from '../inspector/body-preview';
import type { RequestObserver, RequestRecord } from '../inspector/request-capture';
import { AnswerSender } from './answer-sender';
import { runPollSlot } from './poll-slots';
import { Registration } from './registration';
import { RequestServing } from './request-serving';
import { RequestsInProgress } from './requests-in-progress';
import { ServerConnection } from './server-connection';
import { MAX_STREAMING_ANSWERS } from './streaming-answers';
import { TunnelRun, type TunnelEnd } from './tunnel-run';

/** How long stop() lets requests that are already with the app finish before it cuts them. */
const STOP_GRACE_MS = 5_000;

export interface TunnelClientOptions {
  /** The port asked for at the first registration (--port, or the one this name had last time). */
  preferredPort: number | undefined;
  /** The name's claim key from the state file, if any (registration.ts). */
  claimKey: string | undefined;
}

export class TunnelClient {
  private readonly connection: ServerConnection;
  private readonly app: Pool;
  private readonly upgrades: UpgradeForwarder;
  private readonly runState = new TunnelRun();
  private readonly registration: Registration;
  private readonly serving: RequestServing;
  private readonly inProgress = new RequestsInProgress();
  private readonly requestObservers: RequestObserver[] = [];
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly config: ClientConfig,
    private readonly name: string,
    private readonly logger: Logger,
    private readonly terminal: Terminal,
    options: TunnelClientOptions,
  ) {
    // Each open upgraded connection (WebSocket) holds two connections to the server besides the polls.
    // Outbound calls of the cluster proxy (--cluster-proxy) take a connection each while they run.
    // So does each streamed answer that left its poll slot (streaming-answers.ts), to the server
    // and to the app alike: the slot it left serves other requests meanwhile.
    const outboundConnections = config.clusterProxyPort === null ? 0 : MAX_OUTBOUND_CALLS;
    this.connection = new ServerConnection(
      config.server,
      config.token,
      config.concurrency + MAX_STREAMING_ANSWERS + 2 + 2 * MAX_CLIENT_UPGRADES + outboundConnections,
    );
    this.app = createAppPool(config.target, config.concurrency + MAX_STREAMING_ANSWERS);
    const report = (record: RequestRecord) => this.report(record);
    this.upgrades = new UpgradeForwarder({
      connection: this.connection,
      name,
      target: config.target,
      preserveHost: config.preserveHost,
      logger,
      report,
    });
    this.registration = new Registration({
      connection: this.connection,
      config,
      name,
      preferredPort: options.preferredPort,
      claimKey: options.claimKey,
      logger,
      run: this.runState,
    });
    const answers = new AnswerSender({
      connection: this.connection,
      name,
      logger,
      inProgress: this.inProgress,
      registered: () => this.registration.current,
    });
    this.serving = new RequestServing({
      config,
      name,
      logger,
      connection: this.connection,
      app: this.app,
      upgrades: this.upgrades,
      answers,
      inProgress: this.inProgress,
      registration: this.registration,
      // Body previews are for the inspector; without it only byte counts are kept.
      previewCapBytes: config.inspectPort === null ? 0 : PREVIEW_CAP_BYTES,
      report,
    });
  }

  /**
   * The first registration, retrying a server that cannot be reached yet (registration.ts);
   * throws AuthRefusedError, or StandinError with the server's reason.
   */
  registerFirst(): Promise<RegisterResponse> {
    return this.registration.registerFirst();
  }

  /** Calls `listener` after a reconnect registered the tunnel again (live-tunnel.ts remembers the port). */
  onReregistered(listener: (registered: RegisterResponse) => void): void {
    this.registration.onReregistered = listener;
  }

  /** Requests (and streaming responses) the client is serving right now. */
  get requestsInProgress(): number {
    return this.inProgress.count;
  }

  /** Whether stop() was called (Ctrl-C). */
  get isStopping(): boolean {
    return this.runState.isStopping;
  }

  /** Serves requests until the session ends or stop() is called. */
  run(): Promise<TunnelEnd> {
    const ended = this.runState.start();
    for (let slot = 0; slot < this.config.concurrency; slot++) {
      void runPollSlot({
        name: this.name,
        logger: this.logger,
        renew: this.config.renew,
        run: this.runState,
        registration: this.registration,
        poll: (sessionId) => this.connection.poll(this.name, sessionId),
        serve: (work, sessionId) => this.serving.serve(work, sessionId),
      });
    }
    return ended;
  }

  /**
   * Stops taking requests, releases the tunnel on the server (which fails what is still queued
   * there), lets requests already with the app finish for up to STOP_GRACE_MS, and closes every
   * connection.
   */
  stop(options: { waitForRequests?: boolean } = {}): Promise<void> {
    this.stopped ??= this.shutDown(options.waitForRequests ?? true);
    return this.stopped;
  }

  private async shutDown(waitForRequests: boolean): Promise<void> {
    this.runState.stop();
    await this.registration.release();
    this.upgrades.closeAll();
    if (waitForRequests) await this.inProgress.finished(STOP_GRACE_MS);
    await Promise.allSettled([this.connection.close(), this.app.destroy()]);
    this.runState.end({ kind: 'stopped' });
  }

  /**
   * Sends one outbound call of the cluster proxy over this tunnel's connection and session;
   * throws StandinError `outbound_offline` while the tunnel has no session.
   */
  callOutbound: OutboundCall = (body, options): Promise<Dispatcher.ResponseData> => {
    const registered = this.registration.current;
    if (!registered || this.runState.isStopping)
      return Promise.reject(new StandinError('outbound_offline', 'the standin client is not connected to its server right now'));
    const headersTimeoutMs = registered.requestTimeoutMs + POLL_GRACE_MS;
    return this.connection.callOutbound(this.name, registered.sessionId, body, { ...options, headersTimeoutMs });
  };

  /** The inspector's "Compare with the cluster": sends a captured request to the server's --fallback. */
  callCompare = (request: CompareRequest): Promise<CompareResponse> => {
    const registered = this.registration.current;
    if (!registered || this.runState.isStopping)
      return Promise.reject(new StandinError('not_connected', 'the standin client is not connected to its server right now'));
    return this.connection.compare(this.name, registered.sessionId, request, registered.requestTimeoutMs + POLL_GRACE_MS);
  };

  /** Registers a function to call with the record of every finished request (log file, inspector). */
  onRequestDone(observer: RequestObserver): void {
    this.requestObservers.push(observer);
  }

  private report(record: RequestRecord): void {
    this.terminal.request(record);
    for (const observer of this.requestObservers) observer(record);
  }
}
