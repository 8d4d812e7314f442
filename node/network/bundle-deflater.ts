/**
 * Entry bundles deflated for the tile exchange's version 1.1.0 (docs/PROTOCOL.md, "Tile exchange"): raw
 * DEFLATE (RFC 1951) at level 1, on libuv's thread pool so that the event loop keeps serving. Entries
 * repeat most of their bytes (`/nix/store/` prefixes, the same popular references), so a bundle shrinks
 * about 5 times, and a sync over a long or slow link moves 5 times fewer bytes.
 *
 * Bounded, because deflating costs several times what reading a bundle does and a peer's request budget
 * was set for reads: at most `maxBytesPerSecond` of bundle bytes are deflated per second, for all peers
 * together; beyond, a bundle goes out as stored (status 0), which any client takes. Deflated bundles are
 * kept in a cache of at most `cacheBytes`, by the SHA-256 of the stored bytes (so a cached answer is
 * always the deflation of exactly what was read), so a new checkpoint's bundles are deflated once however
 * many followers fetch them; the cache is emptied once unused for `cacheIdleMs`.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, deflateRaw } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);

export interface BundleDeflaterInit {
  /** Bundle bytes deflated per second, for all peers together (a 1 s burst). Default 32 MiB. */
  readonly maxBytesPerSecond?: number;
  /** Bytes of deflated bundles cached. Default 8 MiB (about 50,000 entries of 640 bytes). */
  readonly cacheBytes?: number;
  /** The cache is emptied once unused for this long, in ms. Default 60,000. */
  readonly cacheIdleMs?: number;
  /** Bundles smaller than this go out as stored. Default 1,024 bytes. */
  readonly minBytes?: number;
}

export const BUNDLE_DEFLATER_DEFAULTS: Required<BundleDeflaterInit> = {
  maxBytesPerSecond: 32 * 1024 * 1024,
  cacheBytes: 8 * 1024 * 1024,
  cacheIdleMs: 60_000,
  minBytes: 1024,
};

export class BundleDeflater {
  private readonly init: Required<BundleDeflaterInit>;
  /** Deflated bundles by the hex SHA-256 of the stored bytes, least recently used first. */
  private readonly cache = new Map<string, Uint8Array>();
  private cached = 0;
  private idle: ReturnType<typeof setTimeout> | undefined;
  private tokens: number;
  private refilledAt = performance.now();

  constructor(init: BundleDeflaterInit = {}) {
    this.init = { ...BUNDLE_DEFLATER_DEFAULTS, ...init };
    for (const [name, value] of Object.entries(this.init))
      if (!Number.isSafeInteger(value) || value < 0)
        throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
    this.tokens = this.init.maxBytesPerSecond;
  }

  /**
   * `bundle` deflated, or undefined when it should go out as stored: too small, over the budget, or not
   * smaller deflated.
   */
  async deflate(bundle: Uint8Array): Promise<Uint8Array | undefined> {
    if (bundle.length < this.init.minBytes) return undefined;
    const key = createHash('sha256').update(bundle).digest('hex');
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      this.touch();
      return hit;
    }
    if (!this.take(bundle.length)) return undefined;
    let deflated: Uint8Array;
    try {
      deflated = await deflateRawAsync(bundle, {
        level: constants.Z_BEST_SPEED,
        maxOutputLength: bundle.length,
      });
    } catch (err) {
      // Larger deflated than stored: sent as stored.
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
      throw err;
    }
    if (deflated.length >= bundle.length) return undefined;
    this.keep(key, deflated);
    return deflated;
  }

  /** Empties the cache (stop()). */
  clear(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
    this.cache.clear();
    this.cached = 0;
  }

  /** Takes `bytes` from the budget, refilled at maxBytesPerSecond up to one second's worth. */
  private take(bytes: number): boolean {
    const now = performance.now();
    const { maxBytesPerSecond } = this.init;
    this.tokens = Math.min(
      maxBytesPerSecond,
      this.tokens + ((now - this.refilledAt) * maxBytesPerSecond) / 1000,
    );
    this.refilledAt = now;
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }

  private keep(key: string, deflated: Uint8Array): void {
    if (deflated.length > this.init.cacheBytes) return;
    this.cache.set(key, deflated);
    this.cached += deflated.length;
    for (const [k, v] of this.cache) {
      if (this.cached <= this.init.cacheBytes) break;
      this.cache.delete(k);
      this.cached -= v.length;
    }
    this.touch();
  }

  private touch(): void {
    if (this.idle === undefined) {
      this.idle = setTimeout(() => this.clear(), this.init.cacheIdleMs);
      this.idle.unref();
    } else this.idle.refresh();
  }
}
