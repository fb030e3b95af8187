/**
 * The answers to one batch of requests (RequestBatchMeta in shared/protocol/messages.ts) that are complete
 * and small, gathered while they arrive together so that one respond-to-several POST carries
 * them. Nothing waits on a slow request: the group goes out as soon as every request of the
 * batch has its answer, GROUP_WAIT_MS after its first answer, or when the next would not fit.
 */

import { MAX_BATCH_META_BYTES, MAX_BATCH_REQUESTS, MAX_GROUPED_BODY_BYTES } from '#shared/protocol/limits';
import type { ResponseMeta } from '#shared/protocol/messages';
import type { CompleteAnswer } from '../forwarding/app-answer';

/** How long the first complete answer waits for others to share its POST, ms. */
const GROUP_WAIT_MS = 2;

export class ResponseGroup {
  private answers: CompleteAnswer[] = [];
  private metaBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param outstanding how many requests of the batch have no answer yet
   * @param send sends a group of one or more answers
   */
  constructor(
    private outstanding: number,
    private readonly send: (answers: CompleteAnswer[]) => void,
  ) {}

  /** Whether an answer may travel in a group (a bigger body goes on a POST of its own). */
  static accepts(answer: CompleteAnswer): boolean {
    return (answer.body?.length ?? 0) <= MAX_GROUPED_BODY_BYTES;
  }

  /** A complete answer arrived. */
  add(answer: CompleteAnswer): void {
    const metaBytes = estimateMetaBytes(answer.meta);
    if (this.answers.length > 0 && this.metaBytes + metaBytes > MAX_BATCH_META_BYTES) this.flush();
    this.answers.push(answer);
    this.metaBytes += metaBytes;
    if (this.answers.length >= MAX_BATCH_REQUESTS) this.flush();
    this.settled();
  }

  /** One request of the batch was answered outside the group (its response streams). */
  answeredAlone(): void {
    this.settled();
  }

  private settled(): void {
    this.outstanding--;
    if (this.outstanding === 0) this.flush();
    else if (this.answers.length > 0 && !this.timer) this.timer = setTimeout(() => this.flush(), GROUP_WAIT_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.answers.length === 0) return;
    const answers = this.answers;
    this.answers = [];
    this.metaBytes = 0;
    this.send(answers);
  }
}

/** About how many bytes an answer adds to the group's metadata frame (JSON of its headers and fields). */
function estimateMetaBytes(meta: ResponseMeta): number {
  if (meta.kind === 'failure') return meta.message.length + 200;
  let bytes = 200;
  // Names and values, with quotes and commas, and room for escapes.
  for (const item of meta.headers) bytes += item.length + 8;
  for (const item of meta.trailers ?? []) bytes += item.length + 8;
  return bytes + (meta.statusMessage?.length ?? 0);
}
