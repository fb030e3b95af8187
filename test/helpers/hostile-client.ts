/**
 * A standin client that says whatever a test wants: it speaks the wire protocol through the
 * real client's ServerConnection (so it follows protocol changes), but answers browser requests
 * with heads and bodies of the test's choosing, as a compromised laptop or a broken app could.
 */

import { PassThrough } from 'node:stream';
import { ServerConnection, type PollAnswer } from '../../client/session/server-connection';
import { HEADER } from '#shared/protocol/headers';
import type { AppResponseMeta, RequestMeta } from '#shared/protocol/messages';
import { PROTOCOL_VERSION } from '#shared/protocol/version';

/** A registered tunnel whose requests the test answers by hand. */
export class HostileClient {
  private next: Promise<PollAnswer> | undefined;

  private constructor(
    private readonly connection: ServerConnection,
    readonly name: string,
    readonly sessionId: string,
    readonly port: number,
  ) {}

  /** Registers tunnel `name` on `serverUrl`. */
  static async register(serverUrl: string, name: string, token: string | null = null): Promise<HostileClient> {
    const connection = new ServerConnection(new URL(serverUrl), token, 4);
    const registered = await connection.register({ name, target: 'http://127.0.0.1:1' });
    return new HostileClient(connection, name, registered.sessionId, registered.port ?? 0);
  }

  /** Headers for calling this session's client endpoints by hand (raw bodies a real client would not send). */
  rawCallHeaders(token: string): Record<string, string> {
    return { authorization: `Bearer ${token}`, [HEADER.protocol]: String(PROTOCOL_VERSION), [HEADER.session]: this.sessionId };
  }

  /** The next browser request (polls until one comes, at most `timeoutMs`). */
  async nextRequest(timeoutMs = 10_000): Promise<RequestMeta> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await (this.next ?? this.connection.poll(this.name, this.sessionId));
      this.next = undefined;
      if (answer.kind === 'request') {
        answer.body.resume();
        return answer.meta;
      }
      if (answer.kind === 'batch') return answer.requests[0];
      if (Date.now() > deadline) throw new Error(`no browser request for ${this.name} within ${timeoutMs} ms`);
    }
  }

  /** Answers request `id` with `head` and `body`; the POST is then held as the next poll. */
  respond(id: string, head: Omit<AppResponseMeta, 'kind' | 'appMs'>, body: Buffer | string = ''): void {
    // A refused or cut POST is not the test's failure: the next poll starts afresh.
    this.next = this.connection
      .respond(this.name, this.sessionId, id, { kind: 'response', appMs: 1, ...head }, Buffer.from(body))
      .catch((): PollAnswer => ({ kind: 'idle' }));
  }

  /** Answers request `id` with `head` and a body the test writes (and ends) as it likes. */
  respondStreaming(id: string, head: Omit<AppResponseMeta, 'kind' | 'appMs'>): PassThrough {
    const body = new PassThrough();
    this.next = this.connection
      .respond(this.name, this.sessionId, id, { kind: 'response', appMs: 1, ...head }, body)
      .catch((): PollAnswer => ({ kind: 'idle' }));
    return body;
  }

  /** Sends `count` extra polls at once and returns their answers (statuses or errors). */
  pollMany(count: number): Promise<PromiseSettledResult<PollAnswer>[]> {
    return Promise.allSettled(Array.from({ length: count }, () => this.connection.poll(this.name, this.sessionId)));
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
