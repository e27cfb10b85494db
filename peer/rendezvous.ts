import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest-random-weight) hashing: every node ranks the same candidates in the
 * same order for a digest, with no coordination. The first is the digest's owner, the one
 * node that fetches it from upstream; different digests land on different owners.
 */
export function rankByRendezvous<T extends { readonly id: string }>(key: string, candidates: readonly T[]): T[] {
  return candidates
    .map((candidate) => ({ candidate, weight: createHash('sha256').update(`${candidate.id}\u0000${key}`).digest('hex') }))
    .sort((a, b) => (a.weight < b.weight ? 1 : a.weight > b.weight ? -1 : a.candidate.id.localeCompare(b.candidate.id)))
    .map(({ candidate }) => candidate);
}
