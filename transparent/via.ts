/**
 * What this proxy adds to the Via header of requests it forwards (RFC 9110 §7.6.3), named
 * by node id so that two EdgePier proxies in a chain are not mistaken for a loop. Seeing our
 * own entry on an incoming request means it came round again.
 */
export function viaEntry(nodeId: string): string {
  return `1.1 edgepier-${nodeId}`;
}

export function hasPassedThrough(via: string | string[] | undefined, entry: string): boolean {
  const values = Array.isArray(via) ? via : via === undefined ? [] : [via];
  return values.some((value) => value.split(',').some((item) => item.trim() === entry));
}
