import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';

/** Every child still running, so that an interrupted benchmark leaves no process behind. */
const runningChildren = new Set<ChildProcess>();

/** Kills every child this process started and has not stopped yet (used on exit and on signals). */
export function killAllChildren(): void {
  for (const child of runningChildren) child.kill('SIGKILL');
  runningChildren.clear();
}

/** How long a child gets between SIGTERM and SIGKILL when stopped. */
const STOP_GRACE_MS = 2_000;

/** Output lines kept per child for the error message when it dies early. */
const KEPT_OUTPUT_LINES = 20;

/** A child process of the benchmark: one role (app, proxy, nginx, standin server or client). */
export class SpawnedProcess {
  private readonly recentOutput: string[] = [];
  private exitDescription: string | null = null;
  private announcedPort: number | null = null;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {}

  /** Starts `command args`; stdout and stderr are kept (last lines) for error messages. */
  static start(label: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): SpawnedProcess {
    // stdin is a pipe the children never get to read: our own children exit when it closes, so
    // they die with the benchmark even if it is killed with SIGKILL.
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    runningChildren.add(child);
    const spawned = new SpawnedProcess(label, child);
    spawned.keepOutput();
    child.on('exit', (code, signal) => {
      runningChildren.delete(child);
      spawned.exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
    });
    child.on('error', (error) => {
      spawned.exitDescription = `failed to start: ${error.message}`;
    });
    return spawned;
  }

  /** The operating-system process id (for /proc readings). */
  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.label} has no pid: ${this.exitDescription}`);
    return this.child.pid;
  }

  /** Whether the process is still running. */
  get isRunning(): boolean {
    return this.exitDescription === null;
  }

  /** Waits for the first stdout line that is JSON with a `port`: how our own children say they listen. */
  async waitForListeningPort(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.isRunning) {
      if (this.announcedPort !== null) return this.announcedPort;
      await delay(20);
    }
    if (this.announcedPort !== null) return this.announcedPort;
    throw new Error(`${this.label} did not report its port within ${timeoutMs} ms${this.describeExit()}`);
  }

  /** Explains why the process is gone (or says it runs), with its last output lines. */
  describeExit(): string {
    const status = this.exitDescription ? `; it ${this.exitDescription}` : '';
    const output = this.recentOutput.length ? `; last output:\n  ${this.recentOutput.join('\n  ')}` : '';
    return status + output;
  }

  /** Stops the process: SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(): Promise<void> {
    if (!this.isRunning) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private keepOutput(): void {
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) {
          if (line.trim() === '') continue;
          this.announcedPort ??= parseListeningLine(line);
          this.recentOutput.push(line.slice(0, 300));
          if (this.recentOutput.length > KEPT_OUTPUT_LINES) this.recentOutput.shift();
        }
      });
    }
  }
}

function parseListeningLine(line: string): number | null {
  try {
    const message: unknown = JSON.parse(line);
    if (typeof message === 'object' && message !== null && 'port' in message && typeof message.port === 'number') {
      return message.port;
    }
  } catch {
    // Not our JSON line: ordinary output.
  }
  return null;
}

/** Prints one JSON line announcing the port, then exits when the parent closes our stdin. */
export function announceListeningAndExitWithParent(port: number): void {
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
}
