/**
 * What a registration hears when port mode has no port left. A port leaves the pool two ways: a
 * live tunnel holds it, or another process had bound it when standin tried to open it (the pool
 * retires it for good); the message names the second kind, so the operator frees those ports
 * instead of looking for tunnels to stop.
 */

/** Ports named in the message at most; a range can be thousands wide. */
const LISTED_PORTS = 10;

/** The no_free_port message for the range `rangeText` of `rangeSize` ports, `retiredPorts` of which another process holds. */
export function noFreePortMessage(rangeText: string, rangeSize: number | null, retiredPorts: readonly number[]): string {
  if (retiredPorts.length === 0) return `every port in ${rangeText} is held by a live tunnel; stop one or widen --ports`;
  const listed =
    retiredPorts.slice(0, LISTED_PORTS).join(', ') + (retiredPorts.length > LISTED_PORTS ? `, … (${retiredPorts.length} in all)` : '');
  if (rangeSize !== null && retiredPorts.length >= rangeSize)
    return `every port in ${rangeText} is in use by another process (${listed}); free them or choose another --ports`;
  return `every port in ${rangeText} is held by a live tunnel or in use by another process (${listed}); stop a tunnel, free those ports or widen --ports`;
}
