/**
 * Where a follower gets a log's checkpoint and tiles: the `TileSource` interface (implemented over HTTP
 * here, over libp2p by the tile exchange), and `HttpTileSource` for the C2SP tile routes a node serves
 * under `/logs/<logID>/` (node/routes/logs.ts) or any static mirror of them.
 *
 * A source is untrusted: it returns bytes, and the sync verifies every byte against a signed root before
 * storing anything (node/sync/log-sync.ts). A source only has to be bounded: every request has a time limit
 * and every body a size cap (maxTileBytes), so a slow or flooding source costs a timeout, not memory.
 */
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { HASH_SIZE, MAX_ENTRY_BYTES, MAX_NOTE_BYTES } from '../../protocol/constants.ts';
import { MalformedError, TooLargeError, VerificationError } from '../../protocol/errors.ts';
import type { LogKey } from '../../protocol/keys.ts';
import { formatTilePath, type TileId } from '../../protocol/tile-path.ts';
import { asError, type SourceFailure, TileSourceError } from '../errors.ts';
import { readCapped } from '../http/bounded-fetch.ts';

const log = logger('trustix:tile-source');

/** A source that failed a log's sync or checkpoint request, with the reason (to penalise it). */
export interface SourceFailedEvent {
  readonly logId: string;
  readonly sourceId: string;
  readonly reason: SourceFailure;
  readonly error: Error;
}

export interface TileRequestOptions {
  readonly signal?: AbortSignal;
}

export interface TileSource {
  /** Stable name for reports and penalties: a PeerId, a URL. */
  readonly id: string;
  /** The source's latest checkpoint note of the log (unverified), or undefined when it has none. */
  checkpoint(logId: string, options?: TileRequestOptions): Promise<Uint8Array | undefined>;
  /**
   * The progress of the source's sync of the log under way (an unverified protocol/sync-progress.ts
   * body), or undefined when it has none or cannot say (HTTP sources do not have it).
   */
  progress?(logId: string, options?: TileRequestOptions): Promise<Uint8Array | undefined>;
  /**
   * Peers the source served the log's entry bundles to lately (PeerId strings, protocol/log-holders.ts):
   * where to fetch when it says busy. Undefined when it names none or cannot say (HTTP sources).
   */
  holders?(logId: string, options?: TileRequestOptions): Promise<string[] | undefined>;
  /**
   * Bodies of `tiles` of the log, in order (unverified); undefined for a tile the source does not have at
   * that width (it holds a smaller tree: not a fault). Throws TileSourceError when the request fails:
   * 'busy' (HTTP 429/503, tile exchange status 3), 'timeout', 'unavailable' (unreachable, reset, another
   * status), 'oversized' (a body over the cap), 'malformed' (a frame or status that makes no sense).
   * Must honour `signal`, and never return a body over maxTileBytes(tile).
   */
  tiles(
    logId: string,
    tiles: readonly TileId[],
    options?: TileRequestOptions,
  ): Promise<(Uint8Array | undefined)[]>;
}

/** Largest valid body of `tile`: width hashes, or width entries of at most MAX_ENTRY_BYTES each. */
export function maxTileBytes(tile: TileId): number {
  return tile.kind === 'hash' ? tile.width * HASH_SIZE : tile.width * (2 + MAX_ENTRY_BYTES);
}

/**
 * Asks every source for the log's checkpoint (within `timeoutMs`) and returns the largest one that
 * verifies with the log key. A source answering with one that does not verify, or failing, is reported
 * through `onFailed`; one without a checkpoint is not.
 */
export async function latestCheckpoint(
  sources: readonly TileSource[],
  key: LogKey,
  options: { timeoutMs: number; onFailed?: (event: SourceFailedEvent) => void },
): Promise<{ source: TileSource; checkpoint: SignedCheckpoint } | undefined> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let best: { source: TileSource; checkpoint: SignedCheckpoint } | undefined;
  await Promise.all(
    sources.map(async (source) => {
      try {
        const note = await source.checkpoint(key.logId, { signal });
        if (note === undefined) return;
        const checkpoint = openCheckpoint(note, key.verifier);
        if (best === undefined || checkpoint.size > best.checkpoint.size) best = { source, checkpoint };
      } catch (err) {
        const reason: SourceFailure =
          err instanceof TileSourceError
            ? err.reason
            : err instanceof VerificationError
              ? 'invalid'
              : err instanceof MalformedError
                ? 'malformed'
                : signal.aborted
                  ? 'timeout'
                  : 'unavailable';
        const error = asError(err);
        options.onFailed?.({ logId: key.logId, sourceId: source.id, reason, error });
      }
    }),
  );
  return best;
}

export interface HttpTileSourceInit {
  /** Base URL of the server; routes are `<url>logs/<logID>/...`. Required. */
  readonly url: string;
  /** Name in reports. Default the normalized URL. */
  readonly id?: string;
  /** Time for one HTTP request, body included. Default 10 s. */
  readonly timeoutMs?: number;
  /** Concurrent requests to this server. Default 8. */
  readonly maxConcurrency?: number;
}

/** A TileSource over HTTP GETs of the C2SP paths. 404/410 mean "not here"; 429/503 mean busy. */
export class HttpTileSource implements TileSource {
  readonly id: string;
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly maxConcurrency: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(init: HttpTileSourceInit) {
    const base = new URL(init.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new TypeError(`a tile source URL must be http(s), not ${base.protocol}`);
    if (base.search !== '' || base.hash !== '') throw new TypeError('a tile source URL takes no query');
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
    this.id = init.id ?? base.href;
    this.timeoutMs = init.timeoutMs ?? 10_000;
    this.maxConcurrency = init.maxConcurrency ?? 8;
    if (!(this.timeoutMs > 0) || !Number.isInteger(this.maxConcurrency) || this.maxConcurrency < 1)
      throw new RangeError('timeoutMs must be positive and maxConcurrency a positive integer');
  }

  async checkpoint(logId: string, options: TileRequestOptions = {}): Promise<Uint8Array | undefined> {
    return this.get(`logs/${logId}/checkpoint`, MAX_NOTE_BYTES, options.signal);
  }

  async tiles(
    logId: string,
    tiles: readonly TileId[],
    options: TileRequestOptions = {},
  ): Promise<(Uint8Array | undefined)[]> {
    return Promise.all(
      tiles.map((tile) =>
        this.get(`logs/${logId}/${formatTilePath(tile)}`, maxTileBytes(tile), options.signal),
      ),
    );
  }

  private async get(path: string, limit: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (!/^logs\/[0-9a-f]{64}\//.test(path)) throw new TypeError(`not a log ID in ${path}`);
    await this.slot(signal);
    try {
      return await this.getOnce(new URL(path, this.base).href, limit, signal);
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private async slot(signal?: AbortSignal): Promise<void> {
    while (this.active >= this.maxConcurrency) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.active++;
  }

  private async getOnce(url: string, limit: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    try {
      const res = await fetch(url, { signal: combined, redirect: 'follow' });
      if (res.status === 404 || res.status === 410) {
        await res.body?.cancel().catch(() => {});
        return undefined;
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        const busy = res.status === 429 || res.status === 503;
        throw new TileSourceError(this.id, busy ? 'busy' : 'unavailable', `HTTP ${res.status} for ${url}`);
      }
      return await readCapped(res, limit, url);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof TileSourceError) throw err;
      if (err instanceof TooLargeError)
        throw new TileSourceError(this.id, 'oversized', `${url}: ${err.message}`, { cause: err });
      if (timeout.aborted)
        throw new TileSourceError(this.id, 'timeout', `no complete answer within ${this.timeoutMs} ms`, {
          cause: err,
        });
      // fetch reports network failures (refused, reset) as TypeError with the reason in `cause`.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      log('GET %s failed: %s', url, cause?.code ?? (err as Error).message);
      throw new TileSourceError(this.id, 'unavailable', cause?.code ?? cause?.message ?? String(err), {
        cause: err,
      });
    }
  }
}
