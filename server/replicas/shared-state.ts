/**
 * What the replicas share through Redis: tunnels (their current session and whether it
 * stopped), name claims and port reservations. Each replica keeps all of it in memory, as a
 * single server does, so every lookup on the data path stays synchronous; Redis is where changes
 * are written and where the other replicas read them back:
 * - a change is written, then announced on the `standin:events` channel; every replica re-reads
 *   that tunnel (and the port table) and applies it to its own copy;
 * - every RESYNC_INTERVAL_MS each replica re-reads everything, which heals messages missed while
 *   Redis or the subscription was down;
 * - registrations take a lock and re-read what they decide on (the name's tunnel and claim, the
 *   port table) first, so two replicas never hand out one name or one port twice.
 * docs/replicas.md "Shared state" has the key layout.
 */

import type { Logger } from '#shared/logger';
import { randomHex } from '#shared/random-ids';
import type { RegisterRequest } from '#shared/protocol/messages';
import { TUNNEL_NAME_PATTERN } from '#shared/protocol/paths';
import { SESSION_END_REASONS, type SessionEndReason } from '#shared/protocol/session-end';
import { InMemoryNameClaimStore, type NameClaim, type NameClaimStore } from '../identity/name-claims';
import { InMemoryPortPool, type PortPool, type Reservation } from '../core/port-pool';
import { Tunnel } from '../core/tunnel';
import type { ServerContext } from '../server-context';
import { stopTunnel } from '../lifecycle/stop-tunnel';
import type { RedisConnection } from './redis-connection';
import { RECENT_REQUESTS_PER_TUNNEL, toRecentRequest, type RecentRequest, type RecentRequestFacts } from '../observability/recent-requests';

const TUNNELS_KEY = 'standin:tunnels';
const tunnelKey = (name: string) => `standin:tunnel:${name}`;
const recentKey = (name: string) => `standin:recent:${name}`;
const CLAIMS_KEY = 'standin:claims';
const PORTS_KEY = 'standin:ports';
const EVENTS_CHANNEL = 'standin:events';
const REGISTRATION_LOCK_KEY = 'standin:lock:registration';

export const RESYNC_INTERVAL_MS = 3_000;
/** A registration lock left by a killed replica frees itself after this. */
const REGISTRATION_LOCK_TTL_MS = 5_000;
/**
 * Takes the registration lock if it is free. A lock without an expiry was not written by a
 * replica (they always set one) and would otherwise refuse every registration for good, so it
 * counts as free.
 */
const TAKE_LOCK = `
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('pttl', KEYS[1]) == -1 then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;
/** How long a registration waits for the lock before it gives up (503). */
const REGISTRATION_LOCK_WAIT_MS = 4_000;

/** A tunnel's session as stored: what every replica needs to serve and check it. */
interface SessionRecord {
  sessionId: string;
  port: number | null;
  target: string;
  owner?: string;
  version?: string;
  user: string | null;
  privateAccessKey: string | null;
  expiresAt: number;
  createdAt: number;
}

interface StopRecord {
  reason: SessionEndReason;
  stoppedAt: number;
}

/** One tunnel as stored: a hash with `session`, `stop` (once stopped) and `polled` (once a client polled). */
interface TunnelRecord {
  session: SessionRecord;
  stop: StopRecord | undefined;
  polled: boolean;
}

/** The name claims, kept in memory and written through to Redis. */
class SharedNameClaims implements NameClaimStore {
  private readonly local = new InMemoryNameClaimStore();

  constructor(private readonly shared: SharedState) {}

  get(name: string): NameClaim | undefined {
    return this.local.get(name);
  }

  set(claim: NameClaim): void {
    this.local.set(claim);
    void this.shared.write((client) => client.hSet(CLAIMS_KEY, claim.name, JSON.stringify(claim)));
  }

  delete(name: string): void {
    this.local.delete(name);
    void this.shared.write((client) => client.hDel(CLAIMS_KEY, name));
  }

  dropUnusedSince(cutoff: number, isLive: (name: string) => boolean): string[] {
    const dropped = this.local.dropUnusedSince(cutoff, isLive);
    if (dropped.length > 0) void this.shared.write((client) => client.hDel(CLAIMS_KEY, dropped));
    return dropped;
  }

  get size(): number {
    return this.local.size;
  }

  /** Takes the stored claim of `name` (or its absence) into memory. */
  applyStored(name: string, stored: string | null | undefined): void {
    const claim = stored ? parseJson<NameClaim>(stored) : undefined;
    if (isNameClaim(claim, name)) this.local.set(claim);
    else this.local.delete(name);
  }
}

/** The port reservations, kept in memory; the whole (small) table is written after each change. */
class SharedPortPool implements PortPool {
  readonly local: InMemoryPortPool;

  constructor(
    range: { from: number; to: number },
    private readonly shared: SharedState,
  ) {
    this.local = new InMemoryPortPool(range);
  }

  reserve(name: string, preferred: number | undefined, isLive: (name: string) => boolean): number | null {
    const port = this.local.reserve(name, preferred, isLive);
    this.save();
    return port;
  }

  markIdle(name: string, now?: number): void {
    this.local.markIdle(name, now);
    this.save();
  }

  release(name: string): void {
    this.local.release(name);
    this.save();
  }

  retire(port: number): void {
    this.local.retire(port);
    this.save();
  }

  /** This replica's own: another process holds these ports on its host, not necessarily on the others'. */
  retiredPorts(): number[] {
    return this.local.retiredPorts();
  }

  nameForPort(port: number): string | undefined {
    return this.local.nameForPort(port);
  }

  portForName(name: string): number | undefined {
    return this.local.portForName(name);
  }

  /** Writes the whole table. */
  save(): void {
    const entries = Object.fromEntries(
      this.local.reservations().map((reservation) => [String(reservation.port), JSON.stringify(reservation)]),
    );
    void this.shared.write((client) => {
      const multi = client.multi().del(PORTS_KEY);
      if (Object.keys(entries).length > 0) multi.hSet(PORTS_KEY, entries);
      return multi.exec();
    });
  }
}

export class SharedState {
  readonly claims: SharedNameClaims;
  readonly portPool: SharedPortPool | null;
  private ctx: ServerContext | undefined;
  private readonly pendingWrites = new Set<Promise<unknown>>();
  /**
   * Names this replica is registering now: what Redis holds for them is older than the local
   * copy until the registration's writes are done, so reads of them are not applied meanwhile.
   */
  private readonly registeringHere = new Set<string>();
  /** On-demand re-reads under way, by tunnel name (calls share them). */
  private readonly refreshing = new Map<string, Promise<void>>();
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisConnection,
    tunnelPorts: { from: number; to: number } | null,
    private readonly logger: Logger,
  ) {
    this.claims = new SharedNameClaims(this);
    this.portPool = tunnelPorts ? new SharedPortPool(tunnelPorts, this) : null;
  }

  /** Loads everything, subscribes to changes and starts the periodic re-read. */
  async start(ctx: ServerContext): Promise<void> {
    this.ctx = ctx;
    await this.redis.subscriber
      .subscribe(EVENTS_CHANNEL, (message) => void this.applyEvent(message))
      .catch((error: Error) =>
        this.logger.warn('redis subscription failed; changes arrive with the periodic re-read', { error: error.message }),
      );
    await this.resync().catch((error: Error) => this.logger.warn('could not load the shared tunnels yet', { error: error.message }));
    this.resyncTimer = setInterval(() => void this.resync().catch(() => undefined), RESYNC_INTERVAL_MS);
    this.resyncTimer.unref();
  }

  stop(): void {
    clearInterval(this.resyncTimer);
  }

  /**
   * Writes in the background; failures are logged (the periodic re-read is the repair).
   * Resolves true once Redis took the write, false when it did not; never rejects.
   */
  write(call: Parameters<RedisConnection['run']>[0]): Promise<boolean> {
    const pending = this.redis.run(call).then(
      () => true,
      (error: Error) => {
        this.logger.warn('redis write failed', { error: error.message });
        return false;
      },
    );
    this.pendingWrites.add(pending);
    void pending.finally(() => this.pendingWrites.delete(pending));
    return pending;
  }

  /** Waits for the writes started so far. */
  async flush(): Promise<void> {
    await Promise.all([...this.pendingWrites]);
  }

  /**
   * Runs a registration of `name` under the cluster-wide lock, after re-reading what it decides
   * on; its writes are done before the lock is given back. Throws when Redis cannot be reached.
   */
  async whileRegistering<T>(name: string, register: () => Promise<T>): Promise<T> {
    const token = randomHex(16);
    await this.takeLock(token);
    try {
      await this.reload(name);
      this.registeringHere.add(name);
      const result = await register();
      await this.flush();
      return result;
    } finally {
      this.registeringHere.delete(name);
      await this.redis
        .run((client) =>
          client.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", {
            keys: [REGISTRATION_LOCK_KEY],
            arguments: [token],
          }),
        )
        .catch(() => undefined);
    }
  }

  /** Stores `tunnel`'s (new) session and tells the other replicas; true once Redis took it. */
  saveSession(tunnel: Tunnel): Promise<boolean> {
    const session: SessionRecord = {
      sessionId: tunnel.session.id,
      port: tunnel.port,
      target: tunnel.target,
      owner: tunnel.owner,
      version: tunnel.version,
      user: tunnel.user,
      privateAccessKey: tunnel.privateAccessKey,
      expiresAt: tunnel.expiresAt,
      createdAt: tunnel.createdAt,
    };
    return this.write((client) =>
      client
        .multi()
        .sAdd(TUNNELS_KEY, tunnel.name)
        .hSet(tunnelKey(tunnel.name), 'session', JSON.stringify(session))
        .hDel(tunnelKey(tunnel.name), ['stop', 'polled'])
        .publish(EVENTS_CHANNEL, tunnel.name)
        .exec(),
    );
  }

  /** Stores that `tunnel` stopped, and why. */
  saveStop(tunnel: Tunnel): void {
    const stop: StopRecord = { reason: tunnel.stopReason ?? 'stopped', stoppedAt: tunnel.stoppedAt ?? Date.now() };
    void this.write((client) =>
      client.multi().hSet(tunnelKey(tunnel.name), 'stop', JSON.stringify(stop)).publish(EVENTS_CHANNEL, tunnel.name).exec(),
    );
  }

  /** Stores that `tunnel`'s client polled (a registration that never polls gives its port back). */
  savePolled(tunnel: Tunnel): void {
    void this.write((client) => client.multi().hSet(tunnelKey(tunnel.name), 'polled', '1').publish(EVENTS_CHANNEL, tunnel.name).exec());
  }

  /** Keeps a finished request in the tunnel's shared list of recent requests. */
  saveRecentRequest(name: string, facts: RecentRequestFacts): void {
    void this.write((client) =>
      client
        .multi()
        .lPush(recentKey(name), JSON.stringify(facts))
        .lTrim(recentKey(name), 0, RECENT_REQUESTS_PER_TUNNEL - 1)
        .exec(),
    );
  }

  /** The tunnel's recent requests from every replica, newest first. */
  async recentRequests(name: string): Promise<RecentRequest[]> {
    const stored = await this.redis.run((client) => client.lRange(recentKey(name), 0, RECENT_REQUESTS_PER_TUNNEL - 1));
    return stored
      .map((text) => parseJson<RecentRequestFacts>(text))
      .filter((facts): facts is RecentRequestFacts => facts !== undefined && typeof facts.url === 'string')
      .map(toRecentRequest);
  }

  /** Forgets `name`'s tunnel everywhere. */
  saveForgotten(name: string): void {
    void this.write((client) =>
      client
        .multi()
        .del([tunnelKey(name), recentKey(name)])
        .sRem(TUNNELS_KEY, name)
        .publish(EVENTS_CHANNEL, name)
        .exec(),
    );
  }

  private async takeLock(token: string): Promise<void> {
    const deadline = Date.now() + REGISTRATION_LOCK_WAIT_MS;
    for (;;) {
      const taken = await this.redis.run((client) =>
        client.eval(TAKE_LOCK, { keys: [REGISTRATION_LOCK_KEY], arguments: [token, String(REGISTRATION_LOCK_TTL_MS)] }),
      );
      if (taken === 1) return;
      if (Date.now() > deadline) throw new Error('another replica holds the registration lock');
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 30));
    }
  }

  /** Re-reads one tunnel, its claim and the port table. */
  private async reload(name: string): Promise<void> {
    const [record, claim, ports] = await this.redis.run((client) =>
      Promise.all([client.hGetAll(tunnelKey(name)), client.hGet(CLAIMS_KEY, name), client.hGetAll(PORTS_KEY)]),
    );
    this.applyPorts(ports);
    this.claims.applyStored(name, claim);
    this.applyTunnel(name, parseTunnelRecord(record));
  }

  private async applyEvent(name: string): Promise<void> {
    if (!TUNNEL_NAME_PATTERN.test(name)) return;
    try {
      const record = await this.readTunnel(name);
      this.applyTunnel(name, record);
    } catch (error) {
      this.logger.debug('could not apply a change from another replica', { tunnel: name, error: (error as Error).message });
    }
  }

  /**
   * Re-reads one tunnel (and the port table) now, for a client's call this replica's copy cannot
   * decide (client-api/current-session.ts); throws when Redis cannot be reached. Calls share one
   * read per name; a read already under way may have started before the write the caller knows
   * of, so the caller waits for the next one. A tunnel missing from Redis is not forgotten here:
   * a live one means Redis lost its data, which the periodic re-read repairs (healOrForget), and
   * a call with a made-up session must not end it.
   */
  async refreshTunnel(name: string): Promise<void> {
    const underWay = this.refreshing.get(name);
    if (underWay) await underWay.catch(() => undefined);
    let next = this.refreshing.get(name);
    if (!next) {
      const reading = this.readTunnel(name).then((record) => {
        if (record) this.applyTunnel(name, record);
      });
      next = reading.finally(() => {
        if (this.refreshing.get(name) === next) this.refreshing.delete(name);
      });
      this.refreshing.set(name, next);
    }
    await next;
  }

  /** Reads one tunnel's record and the port table, applying the port table. */
  private async readTunnel(name: string): Promise<TunnelRecord | undefined> {
    const [record, ports] = await this.redis.run((client) => Promise.all([client.hGetAll(tunnelKey(name)), client.hGetAll(PORTS_KEY)]));
    this.applyPorts(ports);
    return parseTunnelRecord(record);
  }

  /** Re-reads every tunnel, claim and port reservation. */
  async resync(): Promise<void> {
    const { names, records, claims, ports } = await this.redis.run(async (client) => {
      const [members, claims, ports] = await Promise.all([
        client.sMembers(TUNNELS_KEY),
        client.hGetAll(CLAIMS_KEY),
        client.hGetAll(PORTS_KEY),
      ]);
      const names = members.filter((name) => TUNNEL_NAME_PATTERN.test(name));
      // One unreadable key (of another type) must not keep every other tunnel from loading.
      const records = await Promise.all(names.map((name) => client.hGetAll(tunnelKey(name)).catch(() => null)));
      return { names, records, claims, ports };
    });
    this.applyPorts(ports);
    for (const [name, claim] of Object.entries(claims)) if (!this.registeringHere.has(name)) this.claims.applyStored(name, claim);
    const stored = new Set<string>();
    names.forEach((name, index) => {
      stored.add(name);
      const record = records[index];
      if (record !== null) this.applyTunnel(name, parseTunnelRecord(record));
    });
    for (const tunnel of this.ctx?.registry.list() ?? [])
      if (!stored.has(tunnel.name) && !this.registeringHere.has(tunnel.name)) this.healOrForget(tunnel);
  }

  /**
   * A tunnel this replica knows that Redis does not: a live one means Redis lost its data (a
   * restart without persistence), so it is written back, with its claim and the port table;
   * a stopped one was forgotten by another replica, and is forgotten here too.
   */
  private healOrForget(tunnel: Tunnel): void {
    if (tunnel.state === 'stopped' || tunnel.session.endReason !== undefined) return this.applyTunnel(tunnel.name, undefined);
    this.logger.warn('redis lost a live tunnel; writing it back', { tunnel: tunnel.name });
    void this.saveSession(tunnel);
    if (tunnel.everPolled) this.savePolled(tunnel);
    const claim = this.claims.get(tunnel.name);
    if (claim) this.claims.set(claim);
    this.portPool?.save();
  }

  private applyPorts(stored: Record<string, string>): void {
    // A registration here may have reserved a port that is not written yet.
    if (this.registeringHere.size > 0) return;
    const reservations = Object.values(stored)
      .map((text) => parseJson<Reservation>(text))
      .filter(
        (reservation): reservation is Reservation =>
          typeof reservation === 'object' &&
          reservation !== null &&
          typeof reservation.name === 'string' &&
          Number.isInteger(reservation.port) &&
          typeof reservation.idleSince === 'number',
      );
    this.portPool?.local.load(reservations);
  }

  /** Makes this replica's copy of tunnel `name` match the stored one (undefined: forgotten). */
  private applyTunnel(name: string, record: TunnelRecord | undefined): void {
    const ctx = this.ctx;
    if (!ctx || this.registeringHere.has(name)) return;
    let tunnel = ctx.registry.get(name);
    if (!record) {
      if (!tunnel) return;
      if (tunnel.state !== 'stopped') stopLocally(ctx, tunnel, 'released');
      ctx.registry.remove(name);
      if (tunnel.stopReason) ctx.endedSessions.remember(tunnel.session.id, tunnel.stopReason);
      ctx.health.forget(name);
      return;
    }
    const { session } = record;
    const registration = { name, target: session.target, owner: session.owner, version: session.version } as RegisterRequest;
    if (!tunnel) {
      tunnel = new Tunnel(
        name,
        session.port,
        registration,
        session.expiresAt,
        { pollTimeoutMs: ctx.config.pollTimeoutMs, maxQueuedRequests: ctx.config.maxQueuedRequests },
        ctx.handed,
        session.sessionId,
      );
      ctx.registry.add(tunnel);
    } else if (tunnel.session.id !== session.sessionId) {
      tunnel.startSession(registration, session.expiresAt, session.port, session.sessionId);
    }
    tunnel.replicas = ctx.replicas?.view ?? null;
    tunnel.port = session.port;
    tunnel.expiresAt = session.expiresAt;
    if (typeof session.createdAt === 'number') tunnel.createdAt = session.createdAt;
    tunnel.user = session.user;
    tunnel.owner = session.owner;
    tunnel.privateAccessKey = session.privateAccessKey;
    if (record.polled) tunnel.markPolledElsewhere();
    if (record.stop && tunnel.state !== 'stopped') stopLocally(ctx, tunnel, record.stop.reason);
  }
}

/** Applies a stop another replica decided: the same cascade, without storing it again. */
function stopLocally(ctx: ServerContext, tunnel: Tunnel, reason: SessionEndReason): void {
  if (reason === 'expired' || reason === 'stopped') return stopTunnel(ctx, tunnel, reason, { announce: false });
  for (const request of tunnel.stop(reason)) request.fail('tunnel_offline', `The standin client of tunnel ${tunnel.name} disconnected.`);
}

/**
 * Reads one stored tunnel. Redis is trusted, but what is in it is checked like input: a field of
 * the wrong type would otherwise surface far away (a date that throws in the status API, a port
 * that is text), so a record that is not what this code writes counts as no record at all.
 */
function parseTunnelRecord(hash: Record<string, string>): TunnelRecord | undefined {
  const session = hash.session ? parseJson<SessionRecord>(hash.session) : undefined;
  if (!isSessionRecord(session)) return undefined;
  const stop = hash.stop ? parseJson<StopRecord>(hash.stop) : undefined;
  return { session, stop: isStopRecord(stop) ? stop : undefined, polled: hash.polled === '1' };
}

function isSessionRecord(value: unknown): value is SessionRecord {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Partial<Record<keyof SessionRecord, unknown>>;
  const stringOrNull = (field: unknown) => field === null || typeof field === 'string';
  const optionalString = (field: unknown) => field === undefined || typeof field === 'string';
  return (
    typeof record.sessionId === 'string' &&
    typeof record.target === 'string' &&
    (record.port === null || (Number.isInteger(record.port) && (record.port as number) > 0 && (record.port as number) <= 65_535)) &&
    typeof record.expiresAt === 'number' &&
    Number.isFinite(record.expiresAt) &&
    stringOrNull(record.user) &&
    stringOrNull(record.privateAccessKey) &&
    optionalString(record.owner) &&
    optionalString(record.version)
  );
}

function isStopRecord(value: unknown): value is StopRecord {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Partial<Record<keyof StopRecord, unknown>>;
  return (
    SESSION_END_REASONS.includes(record.reason as SessionEndReason) &&
    typeof record.stoppedAt === 'number' &&
    Number.isFinite(record.stoppedAt)
  );
}

function isNameClaim(value: unknown, name: string): value is NameClaim {
  if (value === null || typeof value !== 'object') return false;
  const claim = value as Partial<Record<keyof NameClaim, unknown>>;
  return (
    claim.name === name &&
    (claim.owner === null || typeof claim.owner === 'string') &&
    (claim.claimKeySha256 === null || typeof claim.claimKeySha256 === 'string') &&
    typeof claim.lastUsedAt === 'number' &&
    Number.isFinite(claim.lastUsedAt)
  );
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
