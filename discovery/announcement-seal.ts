/**
 * Proof that an mDNS announcement comes from a member of the site: a MAC under the site key
 * (site/SiteKey implements it). Discovery knows only this shape, not the key.
 */
export interface AnnouncementSeal {
  seal(fields: string): string;
  verify(fields: string, mac: string): boolean;
}

/**
 * What a seal covers: the instance name, node id, protocol version, peer port and the
 * advertised addresses. Undefined when the announcement lacks one of them.
 */
export function announcementFields(
  instance: string,
  id: string | undefined,
  version: string | undefined,
  port: number | undefined,
  addresses: string | undefined,
): string | undefined {
  if (id === undefined || version === undefined || port === undefined || addresses === undefined) return undefined;
  return JSON.stringify([instance.toLowerCase(), id, version, port, addresses]);
}
