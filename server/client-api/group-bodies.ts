/**
 * The bodies of a respond-to-several POST, back to back after its frame, kept only for the
 * requests that still wait for them. A group may name requests that timed out or were never
 * handed to this session; their bytes are counted and dropped, so a client cannot make the
 * server hold up to MAX_BATCH_REQUESTS × MAX_GROUPED_BODY_BYTES per open POST for nothing.
 */

export class GroupBodies {
  /** Bytes of the POST body seen so far. */
  receivedBytes = 0;
  private readonly starts: number[] = [];
  private readonly kept: (Buffer | undefined)[];

  /** `sizes[i]` is the i-th body's length; `wanted(i)` says whether to keep it. */
  constructor(
    private readonly sizes: number[],
    wanted: (index: number) => boolean,
  ) {
    let start = 0;
    for (const size of sizes) {
      this.starts.push(start);
      start += size;
    }
    this.kept = sizes.map((size, index) => (wanted(index) ? Buffer.allocUnsafe(size) : undefined));
  }

  /** Total of the declared sizes. */
  get declaredBytes(): number {
    return this.sizes.reduce((sum, size) => sum + size, 0);
  }

  /** Takes the next chunk of the POST body; copies what falls inside a kept body. */
  take(chunk: Buffer): void {
    const chunkStart = this.receivedBytes;
    this.receivedBytes += chunk.length;
    this.kept.forEach((body, index) => {
      if (!body) return;
      const from = Math.max(this.starts[index], chunkStart);
      const to = Math.min(this.starts[index] + this.sizes[index], this.receivedBytes);
      if (from < to) chunk.copy(body, from - this.starts[index], from - chunkStart, to - chunkStart);
    });
  }

  /** The i-th body, or undefined if it was not kept. Only meaningful once every byte arrived. */
  body(index: number): Buffer | undefined {
    return this.kept[index];
  }
}
