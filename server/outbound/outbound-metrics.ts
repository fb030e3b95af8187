/**
 * Metrics of outbound calls by destination (`host:port`), registered on the server's own
 * registry. Destinations come from what apps ask for, so the label is bounded twice: only
 * destinations that matched an --outbound-allow rule get their own label (refused ones count
 * as `denied`), and past MAX_DESTINATION_LABELS distinct ones the rest count as `other`.
 */

import { Counter, Histogram, type Registry } from 'prom-client';
import type { OutboundErrorCode } from '#shared/protocol/outbound';
import { REQUEST_DURATION_BUCKETS_SECONDS } from '../observability/metrics';

/** Most distinct destination label values; a Prometheus series per value must stay bounded. */
export const MAX_DESTINATION_LABELS = 200;

/** The label of calls refused before any destination was chosen. */
export const DENIED_DESTINATION = 'denied';

/** How an outbound call ended: `completed`, `aborted`, or the error code standin answered with. */
export type OutboundOutcome = 'completed' | 'aborted' | OutboundErrorCode;

export class OutboundMetrics {
  private readonly requests: Counter<'destination' | 'outcome'>;
  private readonly duration: Histogram<'destination'>;
  private readonly bytes: Counter<'destination' | 'direction'>;
  private readonly destinations = new Set<string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'standin_outbound_requests_total',
      help: 'Outbound calls from local apps to in-cluster services, by destination and outcome',
      labelNames: ['destination', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'standin_outbound_request_duration_seconds',
      help: 'Outbound calls, from the start of the call to the last byte of the answer, by destination',
      labelNames: ['destination'],
      buckets: REQUEST_DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.bytes = new Counter({
      name: 'standin_outbound_transferred_bytes_total',
      help: 'Body bytes of outbound calls: in = app to service (request), out = service to app (response), as standin_transferred_bytes_total',
      labelNames: ['destination', 'direction'],
      registers,
    });
  }

  /** Records one finished call; `destination` is undefined when no rule allowed it. */
  observe(destination: string | undefined, outcome: OutboundOutcome, seconds: number, bytesIn: number, bytesOut: number): void {
    const label = this.labelFor(destination);
    this.requests.inc({ destination: label, outcome });
    this.duration.observe({ destination: label }, seconds);
    if (bytesIn > 0) this.bytes.inc({ destination: label, direction: 'in' }, bytesIn);
    if (bytesOut > 0) this.bytes.inc({ destination: label, direction: 'out' }, bytesOut);
  }

  private labelFor(destination: string | undefined): string {
    if (destination === undefined) return DENIED_DESTINATION;
    if (this.destinations.has(destination)) return destination;
    if (this.destinations.size >= MAX_DESTINATION_LABELS) return 'other';
    this.destinations.add(destination);
    return destination;
  }
}
