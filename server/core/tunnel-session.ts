/**
 * One connected client of a tunnel: its idle long-polls and the browser requests waiting for
 * one. A browser request goes to an idle poll at once, or waits in a bounded queue until the
 * next poll (or respond POST, which is held as the next poll) arrives.
 */

import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { newUuid } from '#shared/random-ids';
import { encodeFrame, frameLength } from '#shared/protocol/wire-frame';
import type { ErrorBody } from '#shared/protocol/error-codes';
import { MAX_BATCH_META_BYTES, MAX_BATCH_REQUESTS, POLL_GRACE_MS } from '#shared/protocol/limits';
import { encodeBatchMeta, encodeMeta } from '#shared/protocol/message-codecs';
import type { ProbeMeta } from '#shared/protocol/messages';
import { SESSION_END_ANSWERS, type SessionEndReason } from '#shared/protocol/session-end';
import type { BrowserRequest } from './browser-request';
import { replyJson, replyNoContent } from '../http/json-reply';
import type { HandedRequests } from './handed-requests';
import { SessionLiveness } from './session-liveness';

/** How often a session with queued requests checks that its client is still there. */
const SILENCE_CHECK_INTERVAL_MS = 250;

/** Health probes that may wait for a poll per session; more mean the client is not polling anyway. */
const MAX_WAITING_PROBES = 4;

/** Limits a session works within. */
export interface SessionLimits {
  pollTimeoutMs: number;
  maxQueuedRequests: number;
}

interface IdlePoll {
  res: ServerResponse;
  timer: NodeJS.Timeout;
  /** Runs when the client's side closed the connection while the poll is held. */
  onPeerGone: () => void;
}

export class TunnelSession {
  /** The session id the client sends on every call (shared by all replicas in replica mode). */
  readonly id: string;
  /** When a poll last arrived, ms since epoch. */
  lastPollAt = Date.now();
  /** When the client registered this session, ms since epoch. */
  readonly startedAt = Date.now();
  /** Whether the client has polled at all (a registration that never polls gives its port back). */
  hasPolled = false;
  endReason: SessionEndReason | undefined;
  private readonly idlePolls: IdlePoll[] = [];
  private readonly queue: BrowserRequest[] = [];
  private readonly waitingProbes: ProbeMeta[] = [];
  /**
   * Requests handed to this session whose browser response is not finished yet. The server-wide
   * HandedRequests index drops a request once it is answered; this set keeps it until it finishes,
   * because a response still streaming in counts the client as alive.
   */
  private readonly unfinished = new Set<BrowserRequest>();
  private readonly liveness: SessionLiveness;
  private silenceCheck: NodeJS.Timeout | undefined;

  constructor(
    readonly tunnelName: string,
    private readonly limits: SessionLimits,
    private readonly handed: HandedRequests,
    /** Given when another replica registered the session (the id is shared through Redis). */
    sharedId?: string,
  ) {
    this.id = sharedId ?? newUuid();
    this.liveness = new SessionLiveness(limits.pollTimeoutMs + POLL_GRACE_MS);
    // A copy of a session registered on another replica: this replica has not heard its client.
    // Counting it alive would have this replica queue browser requests for polls that never come
    // here, and tell the others (poll-presence.ts) that the client polls it.
    if (sharedId !== undefined) this.liveness.lastHeardAt = 0;
  }

  /** Whether the client is still there (see SessionLiveness); false once the session ended. */
  get isAlive(): boolean {
    if (this.endReason) return false;
    // Unanswered, or answered with the body still streaming in; an open upgraded connection
    // (WebSocket) does not count, as before.
    let inProgress = 0;
    for (const request of this.unfinished) if (request.state === 'handed' || request.state === 'answered') inProgress++;
    return this.liveness.isAlive(this.idlePolls.length, inProgress);
  }

  /** A response of this session arrived (polls count by themselves). */
  heard(): void {
    this.liveness.heard();
  }

  /** Whether the client polls this server now: it holds a poll, or one arrived within `windowMs`. */
  pollsHereWithin(windowMs: number, now = Date.now()): boolean {
    return !this.endReason && (this.idlePolls.length > 0 || now - this.lastPollAt < windowMs);
  }

  /** Number of polls waiting for work. */
  get idlePollCount(): number {
    return this.idlePolls.length;
  }

  /** Number of browser requests waiting for a poll. */
  get queuedCount(): number {
    return this.queue.length;
  }

  /** Gives a browser request to an idle poll, or queues it; false when the queue is full. */
  offer(request: BrowserRequest): boolean {
    const poll = this.idlePolls.shift();
    if (poll) {
      this.dropPoll(poll);
      this.handOver(request, poll.res);
      return true;
    }
    if (this.queue.length >= this.limits.maxQueuedRequests) return false;
    this.queue.push(request);
    request.attach('queue', () => this.withdraw(request));
    this.watchForSilence();
    return true;
  }

  /** Takes a client poll: answers it with the next queued request, or holds it until the poll timeout. */
  acceptPoll(res: ServerResponse): void {
    // Its connection closed on the way here (during authentication, or a session check that read
    // Redis): held, it would take a request with no one to carry it, and its 'close' has passed.
    if (res.destroyed) return;
    this.lastPollAt = Date.now();
    this.hasPolled = true;
    this.liveness.heard();
    if (this.endReason) {
      replyEnded(res, this.endReason);
      return;
    }
    const probe = this.waitingProbes.shift();
    if (probe) {
      sendProbe(res, probe);
      return;
    }
    const next = this.queue.shift();
    if (next) {
      // A busy tunnel's queue goes over several at a time, sharing one answer (and, on the
      // client's side, one respond POST for the small responses among them).
      if (isBatchable(next) && this.queue.length > 0 && isBatchable(this.queue[0])) this.handOverBatch(next, res);
      else this.handOver(next, res);
      return;
    }
    const poll: IdlePoll = {
      res,
      timer: setTimeout(() => this.expirePoll(poll), this.limits.pollTimeoutMs),
      onPeerGone: () => this.peerGone(poll),
    };
    this.idlePolls.push(poll);
    // A killed client's kernel sends FIN, and node:http keeps a half-closed socket open until it
    // answers; so the end of the client's side is the signal, not just the close.
    res.socket?.once('end', poll.onPeerGone);
    res.once('close', poll.onPeerGone);
  }

  /** The connection of a held poll was closed by the client's side: its client is gone. */
  private peerGone(poll: IdlePoll): void {
    if (!this.idlePolls.includes(poll)) return;
    this.liveness.peerLeft();
    this.dropPoll(poll);
    poll.res.destroy();
    this.failQueuedIfSilent();
  }

  /**
   * Sends a health probe down an idle poll, or keeps it for the next poll. Probes go before
   * queued browser requests: they are tiny and their latency is what they measure.
   * False when the session has ended or too many probes wait already.
   */
  offerProbe(probe: ProbeMeta): boolean {
    if (this.endReason) return false;
    const poll = this.idlePolls.shift();
    if (poll) {
      clearTimeout(poll.timer);
      sendProbe(poll.res, probe);
      return true;
    }
    if (this.waitingProbes.length >= MAX_WAITING_PROBES) return false;
    this.waitingProbes.push(probe);
    return true;
  }

  /** Removes a queued request (it was answered, or its browser left, before any poll took it). */
  private withdraw(request: BrowserRequest): void {
    const index = this.queue.indexOf(request);
    if (index >= 0) this.queue.splice(index, 1);
  }

  /** This replica is draining (replica mode): idle polls are answered at once, so the client polls another replica. */
  sendIdlePollsElsewhere(): void {
    for (const poll of this.idlePolls.splice(0)) {
      this.dropPoll(poll);
      replyPollElsewhere(poll.res);
    }
  }

  /** Takes every queued request out of the queue (to fail them). */
  takeQueued(): BrowserRequest[] {
    return this.queue.splice(0);
  }

  /** Ends the session: idle polls are answered with the reason; returns the requests still queued. */
  end(reason: SessionEndReason): BrowserRequest[] {
    this.endReason = reason;
    this.waitingProbes.length = 0;
    this.stopWatchingForSilence();
    for (const poll of this.idlePolls.splice(0)) {
      this.dropPoll(poll);
      replyEnded(poll.res, reason);
    }
    return this.queue.splice(0);
  }

  /** Marks `request` as handed to this session; returns how long it waited for a poll, ms. */
  private hand(request: BrowserRequest): number {
    request.markHanded(this.id);
    this.handed.add(request);
    request.attach('handed', () => this.handed.remove(request.id));
    this.unfinished.add(request);
    request.attach('unfinished', () => this.unfinished.delete(request));
    return Math.round(request.queueMs * 10) / 10;
  }

  /** Hands `first` and the bodiless requests queued behind it to one poll, as far as they fit. */
  private handOverBatch(first: BrowserRequest, pollRes: ServerResponse): void {
    const encoded = [encodeMeta({ ...first.meta, queuedMs: this.hand(first) })];
    let metaBytes = encoded[0].length;
    while (encoded.length < MAX_BATCH_REQUESTS && this.queue.length > 0 && isBatchable(this.queue[0])) {
      const request = this.queue[0];
      const meta = encodeMeta({ ...request.meta, queuedMs: Math.round((performance.now() - request.receivedAt) * 10) / 10 });
      // What does not fit stays at the head of the queue, for the next poll.
      if (metaBytes + meta.length > MAX_BATCH_META_BYTES) break;
      this.queue.shift();
      this.hand(request);
      encoded.push(meta);
      metaBytes += meta.length;
    }
    const frame = encodeFrame(encodeBatchMeta(encoded));
    pollRes.writeHead(200, { 'content-length': frame.length });
    pollRes.end(frame);
  }

  private handOver(request: BrowserRequest, pollRes: ServerResponse): void {
    const queuedMs = this.hand(request);
    // An upgrade's poll answer stays open to carry the browser's bytes after the 101.
    if (request.upgrade) return request.upgrade.handOver(pollRes, queuedMs);
    const json = encodeMeta({ ...request.meta, queuedMs });
    const length = request.req.headers['content-length'];
    const headers: Record<string, number> = {};
    // The frame, then the browser's body: chunked unless the browser said how long its body is.
    if (!request.meta.hasBody) headers['content-length'] = frameLength(json);
    else if (length !== undefined && /^\d+$/.test(length)) headers['content-length'] = frameLength(json) + Number(length);
    pollRes.writeHead(200, headers);
    if (!request.meta.hasBody) {
      pollRes.end(encodeFrame(json));
      return;
    }
    pollRes.write(encodeFrame(json));
    request.carryBodyOn(pollRes);
  }

  /** While requests wait in the queue, checks every few hundred ms that the client is still there. */
  private watchForSilence(): void {
    if (this.silenceCheck) return;
    this.silenceCheck = setInterval(() => this.failQueuedIfSilent(), SILENCE_CHECK_INTERVAL_MS);
    this.silenceCheck.unref();
  }

  private stopWatchingForSilence(): void {
    clearInterval(this.silenceCheck);
    this.silenceCheck = undefined;
  }

  /** Fails the queued requests at once when the client has gone silent, instead of at their timeout. */
  private failQueuedIfSilent(): void {
    if (this.queue.length === 0) {
      this.stopWatchingForSilence();
      return;
    }
    if (this.isAlive) return;
    this.stopWatchingForSilence();
    for (const request of this.queue.splice(0)) {
      request.fail('tunnel_offline', `The standin client of tunnel ${this.tunnelName} stopped polling; it may be reconnecting.`);
    }
  }

  private expirePoll(poll: IdlePoll): void {
    this.dropPoll(poll);
    replyNoContent(poll.res);
  }

  private dropPoll(poll: IdlePoll): void {
    clearTimeout(poll.timer);
    poll.res.socket?.off('end', poll.onPeerGone);
    const index = this.idlePolls.indexOf(poll);
    if (index >= 0) this.idlePolls.splice(index, 1);
  }
}

/** Whether a request may travel in a batch: no body to stream, no upgrade to hold open. */
function isBatchable(request: BrowserRequest): boolean {
  return !request.meta.hasBody && !request.upgrade;
}

/** Answers a poll with a probe (no body). */
function sendProbe(res: ServerResponse, probe: ProbeMeta): void {
  if (res.headersSent || res.destroyed) return;
  const frame = encodeFrame(encodeMeta(probe));
  res.writeHead(200, { 'content-length': frame.length });
  res.end(frame);
}

const END_MESSAGES: Record<SessionEndReason, string> = {
  released: 'the client released this tunnel',
  replaced: 'this tunnel name was registered again (by its holder from elsewhere, or taken over by an admin); this session is over',
  expired: 'the tunnel expired',
  stopped: 'an admin stopped the tunnel',
  shutdown: 'the standin server is shutting down; register again in a moment',
};

/**
 * Answers a poll with "nothing for you here" (204, as at the poll timeout) and closes its
 * connection, so the client's next poll opens a new one, which the Service sends to another replica.
 */
export function replyPollElsewhere(res: ServerResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.setHeader('connection', 'close');
  replyNoContent(res);
}

/** Answers a poll of a session that has ended, with a code and a reason the client acts on. */
export function replyEnded(res: ServerResponse, reason: SessionEndReason): void {
  if (res.headersSent || res.destroyed) return;
  const { status, error } = SESSION_END_ANSWERS[reason];
  const body: ErrorBody = { error, message: END_MESSAGES[reason], reason };
  replyJson(res, status, body);
}
