/** How many readers and writers hold each digest right now. */
export class UseCounts {
  private readonly counts = new Map<string, number>();

  acquire(digest: string): void {
    this.counts.set(digest, (this.counts.get(digest) ?? 0) + 1);
  }

  release(digest: string): void {
    const count = (this.counts.get(digest) ?? 0) - 1;
    if (count > 0) this.counts.set(digest, count);
    else this.counts.delete(digest);
  }

  has(digest: string): boolean {
    return (this.counts.get(digest) ?? 0) > 0;
  }
}
