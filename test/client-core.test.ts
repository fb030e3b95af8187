/**
 * In-process tests of the client's session core: a poll slot's decisions (client/session/
 * poll-slots.ts) on a fake server connection and a fake registration, and the exit-code table
 * (client/cli/exit-codes.ts) for every way a tunnel ends. No listener, no spawned process; each
 * runs in milliseconds. The process suites (network-blips, client-resilience, cli) cover the wire.
 */

import { PassThrough } from 'node:stream';
import {
  AuthRefusedError,
  BadPollAnswerError,
  ConfigError,
  NotAStandinServerError,
  ProtocolMismatchError,
  SessionEndedError,
  TunnelClosedError,
  StandinError,
} from '#shared/errors';
import { createLogger } from '#shared/logger';
import { EXIT, exitCodeOf, startFailureOf } from '../client/cli/exit-codes';
import { runPollSlot, type PollSlotOptions, type WorkAnswer } from '../client/session/poll-slots';
import type { PollAnswer } from '../client/session/server-connection';
import { TunnelRun, type TunnelEnd } from '../client/session/tunnel-run';
import { SESSION_END_REASONS } from '#shared/protocol/session-end';

const logger = createLogger({ format: 'json', level: 'error', stream: new PassThrough().resume() });

/** A step of the fake server: what one poll or respond call does. */
type Step = PollAnswer | Error | ((run: TunnelRun, reregister: () => void) => PollAnswer);

/**
 * One poll slot on a fake connection that plays `steps` in order, one per call (poll or
 * respond); past the last step the run stops. Records what the slot did.
 */
function fakeSlot(steps: Step[], options: { renew?: boolean; oldSession?: boolean } = {}) {
  const run = new TunnelRun();
  const did: string[] = [];
  let generation = 1;
  const next = (call: string): Promise<PollAnswer> => {
    did.push(call);
    // Bounded: a slot that loops past its script is stopped, and the test sees the extra calls.
    if (did.length > 20) run.stop();
    const step = steps.shift();
    if (step === undefined) {
      run.stop();
      return Promise.resolve({ kind: 'idle' });
    }
    if (step instanceof Error) return Promise.reject(step);
    return Promise.resolve(typeof step === 'function' ? step(run, () => generation++) : step);
  };
  const slot: PollSlotOptions = {
    name: 'shop',
    logger,
    renew: options.renew ?? false,
    run,
    registration: {
      get generation() {
        return generation;
      },
      session: () => ({ sessionId: `session-${generation}` }) as ReturnType<PollSlotOptions['registration']['session']>,
      isAboutAnOldSession: () => Promise.resolve(options.oldSession ?? false),
      renew: () => {
        did.push('renew');
        generation++;
        return Promise.resolve();
      },
      reconnectAfter: () => {
        did.push('reconnect');
        generation++;
        return Promise.resolve();
      },
    },
    poll: (sessionId) => next(`poll ${sessionId}`),
    serve: (work: WorkAnswer, sessionId) => next(`serve ${work.kind} ${sessionId}`),
  };
  const ended = run.start();
  return { run, did, ended, done: runPollSlot(slot) };
}

const request = (): PollAnswer => ({ kind: 'request', meta: { id: 'r1' } as never, body: new PassThrough() });

describe('a poll slot', () => {
  test('one unreadable poll answer is polled again at once, on the same session', async () => {
    const slot = fakeSlot([new BadPollAnswerError('a proxy answered'), { kind: 'idle' }]);
    await slot.done;
    expect(slot.did).toEqual(['poll session-1', 'poll session-1', 'poll session-1']);
  });

  test('a second unreadable answer in a row on one slot reconnects instead of polling again', async () => {
    const slot = fakeSlot([new BadPollAnswerError('a proxy answered'), new BadPollAnswerError('again')]);
    await slot.done;
    expect(slot.did).toEqual(['poll session-1', 'poll session-1', 'reconnect', 'poll session-2']);
  });

  test('a failed respond POST polls again; a poll failing right after it reconnects', async () => {
    const slot = fakeSlot([request(), new Error('the server cut the POST'), new StandinError('ECONNRESET', 'reset')]);
    await slot.done;
    expect(slot.did).toEqual(['poll session-1', 'serve request session-1', 'poll session-1', 'reconnect', 'poll session-2']);
  });

  test('a request taken just before stop() is still served: the browser is waiting for it', async () => {
    const slot = fakeSlot([
      (run) => {
        run.stop();
        return request();
      },
    ]);
    await slot.done;
    expect(slot.did).toEqual(['poll session-1', 'serve request session-1']);
  });

  test('a probe taken just before stop() is not answered', async () => {
    const slot = fakeSlot([
      (run) => {
        run.stop();
        return { kind: 'probe', meta: { id: 'p1' } as never };
      },
    ]);
    await slot.done;
    expect(slot.did).toEqual(['poll session-1']);
  });

  test('the answer to a request goes to the session whose poll brought it, even after a reconnect', async () => {
    // The request comes on session-1 while another slot's reconnect moves the tunnel to session-2.
    const slot = fakeSlot([
      (_run, reregister) => {
        reregister();
        return request();
      },
      { kind: 'idle' },
    ]);
    await slot.done;
    expect(slot.did).toEqual(['poll session-1', 'serve request session-1', 'poll session-2']);
  });

  test('an expired tunnel with --renew registers again and polls on', async () => {
    const slot = fakeSlot([new SessionEndedError('tunnel_stopped', 'expired', 'expired')], { renew: true });
    await slot.done;
    expect(slot.did).toEqual(['poll session-1', 'renew', 'poll session-2']);
  });

  test('an expired tunnel without --renew ends the run', async () => {
    const expired = new SessionEndedError('tunnel_stopped', 'expired', 'expired');
    const slot = fakeSlot([expired]);
    await slot.done;
    await expect(slot.ended).resolves.toEqual({ kind: 'session-ended', error: expired });
    expect(slot.did).toEqual(['poll session-1']);
  });

  test('a session-ended answer about a session left behind does not end the run', async () => {
    const slot = fakeSlot([new SessionEndedError('session_replaced', 'replaced', 'replaced')], { oldSession: true });
    await slot.done;
    expect(slot.did).toEqual(['poll session-1', 'poll session-1']);
    expect(slot.run.isRunning).toBe(true);
  });

  test('a refused token ends the run at once, never retried', async () => {
    const refused = new AuthRefusedError('bad token');
    const slot = fakeSlot([refused]);
    await slot.done;
    await expect(slot.ended).resolves.toEqual({ kind: 'auth-refused', error: refused });
  });

  test('a protocol mismatch ends the run as a config refusal', async () => {
    const mismatch = new ProtocolMismatchError('v9');
    const slot = fakeSlot([mismatch]);
    await slot.done;
    await expect(slot.ended).resolves.toEqual({ kind: 'config-refused', error: mismatch });
  });
});

describe('the exit-code table', () => {
  test('every way a live tunnel ends has its code', () => {
    const ends: [TunnelEnd, number][] = [
      [{ kind: 'stopped' }, 0],
      [{ kind: 'auth-refused', error: new AuthRefusedError('no') }, 3],
      [{ kind: 'config-refused', error: new ProtocolMismatchError('v9') }, 2],
      [{ kind: 'connection-lost', error: new Error('ECONNREFUSED') }, 1],
      [{ kind: 'session-ended', error: new SessionEndedError('session_replaced', 'replaced', 'replaced') }, 1],
    ];
    for (const [end, code] of ends) expect([end.kind, exitCodeOf(end)]).toEqual([end.kind, code]);
    // The server ended it (expired, an admin stopped it, …): 4, whatever the reason.
    for (const reason of [...SESSION_END_REASONS, undefined]) {
      expect(exitCodeOf({ kind: 'session-ended', error: new SessionEndedError('tunnel_stopped', 'ended', reason) })).toBe(EXIT.ended);
    }
  });

  test('every way a tunnel fails to start has its code', () => {
    const failures: [Error, number][] = [
      [new TunnelClosedError('Ctrl-C while registering'), 0],
      [new ConfigError('--log-file cannot be written'), 2],
      [new AuthRefusedError('no'), 3],
      [new ProtocolMismatchError('v9'), 2],
      [new NotAStandinServerError('an HTML page'), 2],
      [new StandinError('name_in_use', 'taken'), 2],
      [new StandinError('too_many_tunnels', 'too many'), 2],
      [Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 2],
      [new StandinError('no_free_port', 'full'), 1],
      [Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 1],
      // A session that ends at registration never went live: not the "expired" code.
      [new SessionEndedError('tunnel_stopped', 'stopped', 'stopped'), 1],
    ];
    for (const [error, code] of failures) expect([error.message, exitCodeOf(startFailureOf(error))]).toEqual([error.message, code]);
  });
});
