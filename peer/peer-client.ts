import type { Agent as HttpsAgent } from 'node:https';
import type { Logger } from 'pino';
import type { Peer } from '../discovery/peer-discovery.js';
import type { Digest } from '../oci/digest.js';
import { declaredMediaType, MAX_MANIFEST_BYTES, UPSTREAM_MANIFEST_ACCEPT } from '../oci/media-types.js';
import { RegistryError } from '../oci/registry-error.js';
import { blobFromResponse } from '../upstream/blob-response.js';
import { openHttpStream, type HttpStreamResponse, type HttpStreamTimeouts } from '../upstream/open-http-stream.js';
import type { UpstreamBlob } from '../upstream/registry-client.js';
import { coalesced } from './coalesced-stream.js';
import { PEER_HEADER } from '../discovery/node-headers.js';
import { OWNER_FETCH_HEADER, peerPath, RESOLVED_AT_HEADER } from './peer-protocol.js';
import { parseMemberSummary, SITE_PREFETCH_PATH, SITE_SUMMARY_PATH, SUMMARY_LIMITS, type MemberSummary } from './site-summary.js';

export interface PeerManifest {
  readonly body: Buffer;
  readonly mediaType: string;
  readonly resolvedAt?: number;
}

export interface PeerClientOptions {
  readonly nodeId: string;
  /** Connect, first byte and idle limit for a peer serving what it holds. */
  readonly peerTimeoutMs: number;
  /** First-byte limit when the peer is the owner and may first have to ask upstream. */
  readonly ownerFetchTimeoutMs: number;
  readonly logger: Logger;
  /** The TLS-PSK agent of a keyed site (site/peer-tls.ts); peers are plain HTTP without one. */
  readonly httpsAgent?: HttpsAgent;
}

const MAX_TAG_LIST_BYTES = 1024 * 1024;
/** The OCI tag grammar: a member's list is taken only as far as it holds real tags. */
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Fetches from other EdgePier nodes over their ordinary pull API, marked as peer calls. */
export class PeerClient {
  constructor(private readonly options: PeerClientOptions) {}

  async openBlob(
    peer: Peer,
    target: { registry: string; repository: string; digest: Digest },
    offset: number,
    request: { ownerFetch: boolean; signal: AbortSignal },
  ): Promise<UpstreamBlob> {
    const headers: Record<string, string> = { [PEER_HEADER]: this.options.nodeId };
    if (request.ownerFetch) headers[OWNER_FETCH_HEADER] = '1';
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const response = await this.open(peer, peerPath(target.registry, target.repository, 'blobs', target.digest.value), headers, request);
    const blob = blobFromResponse(response, offset, `peer ${peer.id}`, (status) => peerStatusError(peer, status));
    return this.options.httpsAgent ? { ...blob, stream: coalesced(blob.stream) } : blob;
  }

  async fetchManifest(
    peer: Peer,
    target: { registry: string; repository: string; reference: string },
    request: { ownerFetch: boolean; signal: AbortSignal },
  ): Promise<PeerManifest> {
    const headers: Record<string, string> = { [PEER_HEADER]: this.options.nodeId, accept: UPSTREAM_MANIFEST_ACCEPT };
    if (request.ownerFetch) headers[OWNER_FETCH_HEADER] = '1';
    const response = await this.open(peer, peerPath(target.registry, target.repository, 'manifests', target.reference), headers, request);
    const body = await readSmallAnswer(peer, response, MAX_MANIFEST_BYTES, 'manifest');
    const contentType = response.headers['content-type']?.split(';')[0]?.trim();
    const resolvedAt = Number(response.headers[RESOLVED_AT_HEADER]);
    return {
      body,
      mediaType: declaredMediaType(body) ?? contentType ?? '',
      ...(Number.isFinite(resolvedAt) && resolvedAt > 0 ? { resolvedAt } : {}),
    };
  }

  /**
   * Whether the peer's API answers at all (any HTTP status): for redirect mode, which hands a
   * runtime to a peer and so must not hand it to one that is gone.
   */
  async answers(peer: Peer, signal: AbortSignal): Promise<boolean> {
    try {
      const response = await this.open(peer, '/v2/', { [PEER_HEADER]: this.options.nodeId }, { ownerFetch: false, signal });
      response.body.destroy();
      return true;
    } catch {
      return false;
    }
  }

  /** The tags a member knows for a repository (its own records; a member never asks upstream for a peer). */
  async fetchTagList(peer: Peer, target: { registry: string; repository: string }, signal: AbortSignal): Promise<string[]> {
    const path = `/v2/${target.repository}/tags/list?ns=${encodeURIComponent(target.registry)}`;
    const response = await this.open(peer, path, { [PEER_HEADER]: this.options.nodeId, accept: 'application/json' }, { ownerFetch: false, signal });
    const parsed = JSON.parse((await readSmallAnswer(peer, response, MAX_TAG_LIST_BYTES, 'tag list')).toString('utf8')) as { tags?: unknown };
    return Array.isArray(parsed.tags) ? parsed.tags.filter((tag): tag is string => typeof tag === 'string' && TAG_PATTERN.test(tag)) : [];
  }

  /**
   * A member's site-view summary, and which of `holds` it has. Every phase is bounded by
   * the peer timeout and the answer by SUMMARY_LIMITS.bytes, so a dead or babbling member
   * costs one timeout and shows as down.
   */
  async fetchSiteSummary(peer: Peer, holds: readonly string[], signal: AbortSignal): Promise<MemberSummary> {
    const asked = holds.slice(0, SUMMARY_LIMITS.holdsQuery);
    const path = asked.length > 0 ? `${SITE_SUMMARY_PATH}?holds=${asked.join(',')}` : SITE_SUMMARY_PATH;
    const response = await this.open(peer, path, { [PEER_HEADER]: this.options.nodeId, accept: 'application/json' }, { ownerFetch: false, signal });
    const body = await readSmallAnswer(peer, response, SUMMARY_LIMITS.bytes, 'site summary');
    return parseMemberSummary(JSON.parse(body.toString('utf8')) as unknown, peer.id);
  }

  /** Asks a member to prefetch `image` (it answers 202 once the job is queued). */
  async requestPrefetch(peer: Peer, request: { image: string; pin: boolean }, signal: AbortSignal): Promise<void> {
    const query = `image=${encodeURIComponent(request.image)}${request.pin ? '&pin=1' : ''}`;
    const response = await openHttpStream(`${peer.url}${SITE_PREFETCH_PATH}?${query}`, {
      method: 'POST',
      body: '',
      headers: { [PEER_HEADER]: this.options.nodeId, accept: 'application/json' },
      timeouts: { connectMs: this.options.peerTimeoutMs, responseMs: this.options.peerTimeoutMs, idleMs: this.options.peerTimeoutMs },
      signal,
      httpsAgent: this.options.httpsAgent,
    });
    const answer = await readCapped(response.body, 4096);
    if (response.statusCode !== 202) {
      throw new RegistryError('UPSTREAM_ERROR', `peer ${peer.id} refused the prefetch: HTTP ${response.statusCode} ${answer.toString('utf8').slice(0, 300)}`);
    }
  }

  private open(
    peer: Peer,
    path: string,
    headers: Record<string, string>,
    request: { ownerFetch: boolean; signal: AbortSignal },
  ): ReturnType<typeof openHttpStream> {
    const peerTimeout = this.options.peerTimeoutMs;
    // The owner may have to reach upstream before its first byte; once bytes flow, a stall
    // longer than that same bound means it is stuck and the next source should take over.
    const timeouts: HttpStreamTimeouts = request.ownerFetch
      ? { connectMs: peerTimeout, responseMs: this.options.ownerFetchTimeoutMs, idleMs: this.options.ownerFetchTimeoutMs }
      : { connectMs: peerTimeout, responseMs: peerTimeout, idleMs: peerTimeout };
    return openHttpStream(`${peer.url}${path}`, { method: 'GET', headers, timeouts, signal: request.signal, httpsAgent: this.options.httpsAgent });
  }
}

/**
 * A 200 answer read whole, but never more than `limit` bytes: a peer's answer is input from
 * the network, member or not.
 */
async function readSmallAnswer(peer: Peer, response: HttpStreamResponse, limit: number, what: string): Promise<Buffer> {
  if (response.statusCode !== 200) {
    response.body.destroy();
    throw peerStatusError(peer, response.statusCode);
  }
  // A length past the cap is refused before a byte is read.
  if (Number(response.headers['content-length'] ?? 0) > limit) {
    response.body.destroy();
    throw new RegistryError('UPSTREAM_ERROR', `peer ${peer.id} announced an oversized ${what}`);
  }
  const body = await readCapped(response.body, limit);
  if (body.length > limit) throw new RegistryError('UPSTREAM_ERROR', `peer ${peer.id} sent an oversized ${what}`);
  return body;
}

/** Reads at most `limit` bytes; one more than the limit means "oversized", and the rest is not read. */
async function readCapped(body: HttpStreamResponse['body'], limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      body.destroy();
      return Buffer.concat([...chunks, chunk as Buffer]).subarray(0, limit + 1);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

function peerStatusError(peer: Peer, status: number): RegistryError {
  return new RegistryError(status === 404 ? 'BLOB_UNKNOWN' : 'UPSTREAM_ERROR', `peer ${peer.id} answered HTTP ${status}`, {
    detail: { peer: peer.id, status },
  });
}
