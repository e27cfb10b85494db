/**
 * Peers we recently saw fail, and until when we avoid them. A peer that lied about content
 * is avoided much longer than one that merely timed out: a timeout is often the network,
 * a wrong byte is the peer.
 */
export class PeerHealth {
  private readonly avoidedUntil = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    readonly failurePenaltyMs = 30_000,
    readonly corruptionPenaltyMs = 10 * 60_000,
  ) {}

  reportFailure(peerId: string): void {
    this.avoid(peerId, this.failurePenaltyMs);
  }

  reportCorrupt(peerId: string): void {
    this.avoid(peerId, this.corruptionPenaltyMs);
  }

  isAvoided(peerId: string): boolean {
    const until = this.avoidedUntil.get(peerId);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.avoidedUntil.delete(peerId);
      return false;
    }
    return true;
  }

  private avoid(peerId: string, ms: number): void {
    const until = this.now() + ms;
    this.avoidedUntil.set(peerId, Math.max(until, this.avoidedUntil.get(peerId) ?? 0));
  }
}
