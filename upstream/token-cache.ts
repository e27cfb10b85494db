/** A minute of slack so a token is never used in the last moments before it expires. */
const EXPIRY_MARGIN_MS = 10_000;
/** The distribution token spec's default when a token server omits expires_in. */
export const DEFAULT_TOKEN_LIFETIME_S = 60;

/** Bearer tokens by the realm, service and scope they were issued for, until they expire. */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  get(key: string): string | undefined {
    const entry = this.tokens.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return entry.token;
  }

  set(key: string, token: string, lifetimeSeconds: number): void {
    const lifetimeMs = Math.max(0, lifetimeSeconds * 1000 - EXPIRY_MARGIN_MS);
    this.tokens.set(key, { token, expiresAt: this.now() + lifetimeMs });
  }
}
