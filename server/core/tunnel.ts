/**
 * A named tunnel as the server knows it: its port, lifetime, the client session currently
 * serving it, and counters. docs/design.md "Tunnel lifecycle and health": pending → active → stopped.
 */

import type { RegisterRequest } from '#shared/protocol/messages';
import type { SessionEndReason } from '#shared/protocol/session-end';
import type { BrowserRequest } from './browser-request';
import type { HandedRequests } from './handed-requests';
import { RecentRequests } from '../observability/recent-requests';
import { OpenUpgrades } from './open-upgrades';
import { TunnelSession, type SessionLimits } from './tunnel-session';

/** Lifecycle state of a tunnel: `pending` until its client's first poll, then `active`, `stopped` at the end (the stop cascade runs in one tick, so there is no state in between). */
export type TunnelState = 'pending' | 'active' | 'stopped';

/** What a tunnel needs to know of the other replicas, in replica mode. */
export interface ReplicaView {
  /** Whether the tunnel's client is polling another replica. */
  pollsElsewhere(name: string): boolean;
  /** Whether the shared state (Redis) answers. */
  readonly sharedStateReachable: boolean;
  /**
   * Whether this replica knows where every client polls: false for a few seconds after Redis
   * came back from a gap, while the replicas announce their polls again.
   */
  readonly pollsKnown: boolean;
}

/** A client that polled here within this long is polling here: its next poll will take a queued request. */
export const RECENT_POLL_MS = 2_000;

/** What the server counts per tunnel. */
export interface TunnelCounters {
  requests: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  inFlight: number;
  /** Upgraded connections (WebSockets) the app accepted, since the tunnel was created. */
  upgrades: number;
}

export class Tunnel {
  state: TunnelState = 'pending';
  /** When the tunnel was first registered, ms since epoch (replica mode copies it from the registering replica). */
  createdAt = Date.now();
  expiresAt: number;
  session: TunnelSession;
  target: string;
  /** Who owns it, for people: the authenticated user, else what the client said (user@host). */
  owner: string | undefined;
  /** The authenticated developer (tokens file or OIDC) it belongs to, or null (shared token, open server). */
  user: string | null = null;
  /** Set for a private tunnel (`connect --private`): only browsers with its signed cookie get through. */
  privateAccessKey: string | null = null;
  version: string | undefined;
  /** The client asked for a health check at its first poll (RegisterRequest.checkAtStart). */
  checkAtStart = false;
  stopReason: SessionEndReason | undefined;
  /** When it stopped, ms since epoch (it is forgotten --forget-after later). */
  stoppedAt: number | undefined;
  /** Whether any session of this tunnel ever polled. */
  private polledBefore = false;
  readonly counters: TunnelCounters = { requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, inFlight: 0, upgrades: 0 };
  /** The last finished browser requests, for GET /_standin/api/tunnels/<name>/requests. */
  readonly recentRequests = new RecentRequests();
  /** Upgraded connections open now (WebSockets); they ride on the session's client connections. */
  readonly upgrades = new OpenUpgrades();
  /** Replica mode: what this replica knows of the others (server/replicas/poll-presence.ts); null for a single server. */
  replicas: ReplicaView | null = null;

  constructor(
    readonly name: string,
    public port: number | null,
    registration: RegisterRequest,
    expiresAt: number,
    private readonly limits: SessionLimits,
    private readonly handed: HandedRequests,
    sessionId?: string,
  ) {
    this.expiresAt = expiresAt;
    this.target = registration.target;
    this.owner = registration.owner;
    this.version = registration.version;
    this.session = new TunnelSession(name, limits, handed, sessionId);
  }

  /** Whether a client of this tunnel has ever polled (one that never did gives its port back). */
  get everPolled(): boolean {
    return this.polledBefore || this.session.hasPolled;
  }

  /** A client of this tunnel polled here; true for the session's first poll (pending → active). */
  markPolled(): boolean {
    if (this.state !== 'pending') return false;
    this.state = 'active';
    return true;
  }

  /** A client of this tunnel polled another replica (replica mode). */
  markPolledElsewhere(): void {
    this.polledBefore = true;
    if (this.state === 'pending') this.state = 'active';
  }

  /** When the client last polled, ms since epoch (the status API's `lastSeenAt`). */
  get lastPollAt(): number {
    return this.session.lastPollAt;
  }

  /**
   * Whether browser requests can be served: the session is open and its client has polled
   * within poll-timeout + grace (or is holding polls, or is busy answering); see SessionLiveness.
   */
  get isOnline(): boolean {
    // Not counters.inFlight: that counts the browser request asking, so a dead client looked online.
    const replicas = this.replicas;
    if (!replicas) return this.session.isAlive;
    // Without Redis a replica cannot know whether a session is still current (docs/replicas.md "Redis outage").
    if (!replicas.sharedStateReachable) return false;
    return this.session.isAlive || (this.state !== 'stopped' && replicas.pollsElsewhere(this.name));
  }

  /**
   * Whether a browser request queued here will be taken by a poll: the tunnel is online and, in
   * replica mode while the replicas announce their polls again after a Redis gap, its client
   * polls here now. A client heard from here only a while ago may poll other replicas by now,
   * and a request queued here would wait for a poll that does not come (up to --poll-timeout);
   * it is answered as offline instead, until routing knows where the client polls.
   */
  get takesRequestsHere(): boolean {
    if (!this.isOnline) return false;
    return !this.replicas || this.replicas.pollsKnown || this.session.pollsHereWithin(RECENT_POLL_MS);
  }

  /**
   * Whether main-port traffic that selects this tunnel goes to it rather than to --fallback: it
   * is taken here, or passed on to a replica where its client polls (replica-router.ts).
   */
  get takesRequests(): boolean {
    return this.takesRequestsHere || (this.isOnline && this.replicas?.pollsElsewhere(this.name) === true);
  }

  /**
   * A client (re-)registers: a new session replaces the old one, whose idle polls are told so;
   * browser requests still queued move over to the new session instead of failing.
   */
  startSession(registration: RegisterRequest, expiresAt: number, port: number | null, sessionId?: string): TunnelSession {
    this.polledBefore ||= this.session.hasPolled;
    const queued = this.session.end('replaced');
    this.upgrades.closeAll('session replaced');
    this.session = new TunnelSession(this.name, this.limits, this.handed, sessionId);
    this.state = 'pending';
    this.stopReason = undefined;
    this.stoppedAt = undefined;
    this.port = port;
    this.expiresAt = expiresAt;
    this.target = registration.target;
    this.owner = registration.owner;
    this.version = registration.version;
    for (const request of queued) this.session.offer(request);
    return this.session;
  }

  /** Ends the tunnel's session for `reason`; returns the browser requests that were still queued. */
  stop(reason: SessionEndReason): BrowserRequest[] {
    this.state = 'stopped';
    this.stopReason = reason;
    this.stoppedAt = Date.now();
    this.upgrades.closeAll(`tunnel ${reason}`);
    return this.session.end(reason);
  }
}
