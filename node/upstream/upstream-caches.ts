/**
 * The upstream binary caches the substituter takes narinfos and NARs from (`file://` and
 * `http(s)://`). Upstreams are not trusted: a narinfo is used only when its fingerprint equals the
 * value the vote decided, so an upstream can at worst fail to help, never change what Nix receives
 * (Nix checks the NAR against the narinfo's hash, which the vote fixed).
 *
 * - `find(hashPart, fingerprint)` asks every upstream in parallel and resolves with the first narinfo
 *   whose fingerprint matches, or undefined once all have answered otherwise or the time limit passed.
 * - Each upstream's answers are cached in one bounded LRU (by bytes), hits for `positiveTtlMs`, misses
 *   (absent, malformed, failed) for `negativeTtlMs`; concurrent lookups share one request.
 * - An upstream whose `nix-cache-info` names another store directory is never used.
 * - `openNar` streams a NAR file named by a matching narinfo; its URL must stay inside the upstream
 *   (no `..` out of a file cache, no other host), and the file is checked as it streams (nar-transfer.ts:
 *   FileSize, FileHash, the NAR hash when uncompressed, a deadline and a minimum rate). A file that fails
 *   a check marks its upstream bad for that path: `find` then skips it, so the next matching upstream is
 *   served when Nix retries (docs/SECURITY.md "Upstream NAR transfers").
 */
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { logger } from '@libp2p/logger';
import { LRUCache } from 'lru-cache';
import { MalformedError, OutOfRangeError, TooLargeError } from '../../protocol/errors.ts';
import { type Narinfo, parseNarinfo } from '../../protocol/narinfo.ts';
import { narinfoFingerprint } from '../../protocol/narinfo-signature.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import { DeadlineExceededError } from '../errors.ts';
import { FetchError, fetchSameOrigin } from '../http/bounded-fetch.ts';
import { type BinaryCache, openBinaryCache } from './binary-cache.ts';
import { openCacheFile } from './cache-file.ts';
import { checkedTransfer } from './nar-transfer.ts';

const log = logger('trustix:upstream');

export interface UpstreamCachesInit {
  /** The store directory served; upstreams for another one are skipped. Default '/nix/store'. */
  readonly storeDir?: string;
  /** Time for one upstream to answer a narinfo request (retries included). Default 5,000 ms. */
  readonly narinfoTimeoutMs?: number;
  /** Retries of a transient narinfo failure. Default 1. */
  readonly retries?: number;
  /** How long a found narinfo is reused. Default 10 minutes. */
  readonly positiveTtlMs?: number;
  /** How long an absent or failed one is remembered. Default 30 s (a cache may gain it soon). */
  readonly negativeTtlMs?: number;
  /** Bytes of narinfos kept in memory. Default 32 MiB. */
  readonly maxCachedBytes?: number;
  /** Time until an upstream starts answering a NAR request. Default 10 s. */
  readonly narConnectTimeoutMs?: number;
  /** Longest pause in a NAR transfer before it is cut. Default 60 s. */
  readonly narIdleTimeoutMs?: number;
  /** Time for a whole NAR transfer. Default 1 hour. */
  readonly narDeadlineMs?: number;
  /** Least bytes per second an upstream must send, over each window of narRateWindowMs. Default 16 KiB/s. */
  readonly narMinBytesPerSecond?: number;
  /** Default 20 s. */
  readonly narRateWindowMs?: number;
  /**
   * Bytes of each NAR transfer held back until the file is checked; a file no larger is checked whole
   * before Nix gets a byte. Default 1 MiB.
   */
  readonly narHoldBackBytes?: number;
  /** How long an upstream whose NAR failed its checks is skipped for that path. Default 10 minutes. */
  readonly badTtlMs?: number;
}

/** A narinfo that matched the decided fingerprint, and where it came from. */
export interface MatchedNarinfo {
  /** The upstream's URL (normalized, ends in '/'). */
  readonly upstream: string;
  readonly narinfo: Narinfo;
}

/** An open NAR transfer. */
export interface NarStream {
  readonly stream: Readable;
  /** Bytes, when known up front. */
  readonly length: number | undefined;
}

type Answer = { readonly narinfo: Narinfo; readonly fingerprint: string } | { readonly missing: string };

interface Upstream {
  readonly cache: BinaryCache;
  /** Resolves true once nix-cache-info confirmed the store directory (retried after a failure). */
  checked: Promise<boolean> | undefined;
}

export class UpstreamCaches {
  private readonly upstreams: Upstream[];
  private readonly settings: Required<UpstreamCachesInit>;
  private readonly answers: LRUCache<string, Answer>;
  private readonly inflight = new Map<string, Promise<Answer>>();
  /** `${url}\n${hashPart}` of upstreams whose NAR for that path failed its checks. */
  private readonly bad: LRUCache<string, string>;

  constructor(urls: readonly string[], init: UpstreamCachesInit = {}) {
    this.settings = {
      storeDir: '/nix/store',
      narinfoTimeoutMs: 5_000,
      retries: 1,
      positiveTtlMs: 600_000,
      negativeTtlMs: 30_000,
      maxCachedBytes: 32 * 1024 * 1024,
      narConnectTimeoutMs: 10_000,
      narIdleTimeoutMs: 60_000,
      narDeadlineMs: 3_600_000,
      narMinBytesPerSecond: 16 * 1024,
      narRateWindowMs: 20_000,
      narHoldBackBytes: 1024 * 1024,
      badTtlMs: 600_000,
      ...init,
    };
    const { narinfoTimeoutMs, retries } = this.settings;
    this.upstreams = urls.map((url) => ({
      cache: openBinaryCache(url, { timeoutMs: narinfoTimeoutMs, retries, backoffMs: 100 }),
      checked: undefined,
    }));
    this.answers = new LRUCache({
      maxSize: this.settings.maxCachedBytes,
      // Parsed narinfos take a few times their text; an estimate is enough to bound memory.
      sizeCalculation: (a) => ('missing' in a ? 64 : 512 + 2 * a.fingerprint.length),
    });
    this.bad = new LRUCache({ max: 10_000, ttl: this.settings.badTtlMs });
  }

  /** The upstream URLs, normalized. */
  get urls(): string[] {
    return this.upstreams.map((u) => u.cache.url);
  }

  /**
   * The first upstream narinfo for `hashPart` whose fingerprint is `fingerprint`, from an upstream not
   * marked bad for that path; undefined when none has it.
   */
  find(hashPart: string, fingerprint: string): Promise<MatchedNarinfo | undefined> {
    const usable = this.upstreams.filter((u) => !this.isBad(u.cache.url, hashPart));
    if (usable.length === 0) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let pending = usable.length;
      for (const upstream of usable) {
        this.answer(upstream, hashPart).then((answer) => {
          if ('narinfo' in answer && answer.fingerprint === fingerprint)
            resolve({ upstream: upstream.cache.url, narinfo: answer.narinfo });
          else if (--pending === 0) resolve(undefined);
        });
      }
    });
  }

  /** Forgets every cached answer and every upstream marked bad. */
  clear(): void {
    this.answers.clear();
    this.bad.clear();
  }

  /** Whether `upstream`'s NAR for `hashPart` failed its checks recently (it is then skipped by `find`). */
  isBad(upstream: string, hashPart: string): boolean {
    return this.bad.has(`${upstream}\n${hashPart}`);
  }

  /** Skips `upstream` for `hashPart` for badTtlMs: its NAR failed, was missing or could not be opened. */
  markBad(upstream: string, hashPart: string, reason: string): void {
    log.error('%s%s: NAR refused, upstream skipped for this path: %s', upstream, hashPart, reason);
    this.bad.set(`${upstream}\n${hashPart}`, reason);
  }

  /**
   * Opens the NAR file `narinfo.url` of `upstream` (one of ours), checked as it streams; the first
   * `offset` bytes are checked but not passed on. Undefined when the upstream has no such file;
   * MalformedError for a URL outside the upstream; other failures throw. A check that fails (now or
   * while streaming) marks the upstream bad for the path.
   */
  async openNar(upstream: string, narinfo: Narinfo, offset = 0): Promise<NarStream | undefined> {
    const base = new URL(upstream);
    let target: URL;
    try {
      target = new URL(narinfo.url, base);
    } catch {
      throw new MalformedError('narinfo URL', JSON.stringify(narinfo.url.slice(0, 100)));
    }
    if (target.origin !== base.origin || !target.pathname.startsWith(base.pathname) || target.search !== '')
      throw new MalformedError(
        'narinfo URL',
        `${JSON.stringify(narinfo.url.slice(0, 100))} leaves ${upstream}`,
      );
    const hashPart = parseStorePath(narinfo.storePath, this.settings.storeDir).hashPart;
    const uncompressed = narinfo.compression === 'none';
    if (uncompressed && narinfo.fileSize !== undefined && narinfo.fileSize !== narinfo.narSize)
      throw new MalformedError('narinfo', `${target.href}: FileSize differs from NarSize, uncompressed`);
    const size = narinfo.fileSize ?? (uncompressed ? narinfo.narSize : undefined);
    const digests = [
      ...(narinfo.fileHash ? [{ name: 'FileHash', sha256: narinfo.fileHash }] : []),
      ...(uncompressed ? [{ name: 'NarHash', sha256: narinfo.narHash }] : []),
    ];
    if (size !== undefined && offset > size) throw new OutOfRangeError(`offset ${offset} past ${size} bytes`);
    const onBad = (err: Error) => this.markBad(upstream, hashPart, err.message);
    let opened: NarStream | undefined;
    try {
      opened =
        target.protocol === 'file:' ? await this.openFile(base, target) : await this.openHttp(target, size);
      if (
        opened !== undefined &&
        size !== undefined &&
        opened.length !== undefined &&
        opened.length !== size
      ) {
        opened.stream.destroy();
        throw new MalformedError(
          'NAR file',
          `${target.href} is ${opened.length} bytes, the narinfo says ${size}`,
        );
      }
    } catch (err) {
      onBad(err as Error);
      throw err;
    }
    if (opened === undefined) {
      onBad(new FetchError(target.href, 'no such file'));
      return undefined;
    }
    const { narIdleTimeoutMs, narDeadlineMs, narMinBytesPerSecond, narRateWindowMs, narHoldBackBytes } =
      this.settings;
    const limits = {
      idleMs: narIdleTimeoutMs,
      deadlineMs: narDeadlineMs,
      minBytesPerSecond: narMinBytesPerSecond,
      rateWindowMs: narRateWindowMs,
      holdBackBytes: narHoldBackBytes,
    };
    const checked = opened.stream.pipe(
      checkedTransfer(target.href, { size, digests }, limits, offset, onBad),
    );
    // An upstream that fails mid-transfer (reset, closed early) is skipped for the path, like a bad file.
    opened.stream.on('error', (err) => {
      onBad(err);
      checked.destroy(err);
    });
    checked.on('close', () => opened.stream.destroy());
    const length = opened.length ?? size;
    return { stream: checked, length: length === undefined ? undefined : length - offset };
  }

  private answer(upstream: Upstream, hashPart: string): Promise<Answer> {
    const key = `${upstream.cache.url}\n${hashPart}`;
    const hit = this.answers.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const running = this.inflight.get(key);
    if (running !== undefined) return running;
    const work = this.fetchAnswer(upstream, hashPart)
      .then((answer) => {
        const { positiveTtlMs, negativeTtlMs } = this.settings;
        this.answers.set(key, answer, { ttl: 'missing' in answer ? negativeTtlMs : positiveTtlMs });
        return answer;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, work);
    return work;
  }

  /** Never rejects: every failure is an answer (logged), so one bad upstream never fails a lookup. */
  private async fetchAnswer(upstream: Upstream, hashPart: string): Promise<Answer> {
    const { url } = upstream.cache;
    try {
      if (!(await this.check(upstream))) return { missing: 'another store directory' };
      const bytes = await upstream.cache.narinfo(
        hashPart,
        AbortSignal.timeout(this.settings.narinfoTimeoutMs),
      );
      if (bytes === undefined) return { missing: 'not found' };
      const narinfo = parseNarinfo(bytes, this.settings.storeDir);
      // Without FileSize a compressed file has no bound before it is decompressed: not used.
      if ((narinfo.compression ?? 'bzip2') !== 'none' && narinfo.fileSize === undefined)
        return { missing: 'a compressed NAR without FileSize' };
      return { narinfo, fingerprint: narinfoFingerprint(narinfo) };
    } catch (err) {
      log('%s%s.narinfo: %s', url, hashPart, (err as Error).message);
      return { missing: (err as Error).message };
    }
  }

  private check(upstream: Upstream): Promise<boolean> {
    upstream.checked ??= upstream.cache
      .info()
      .then((info) => {
        if (info.storeDir === this.settings.storeDir) return true;
        log.error(
          '%s serves store %s, not %s: not used',
          upstream.cache.url,
          info.storeDir,
          this.settings.storeDir,
        );
        return false;
      })
      .catch((err: unknown) => {
        upstream.checked = undefined; // asked again next time
        throw err;
      });
    return upstream.checked;
  }

  /** Opens a NAR file of a `file://` upstream: no symlinks, FIFOs or paths out of its root (cache-file.ts). */
  private async openFile(base: URL, target: URL): Promise<NarStream | undefined> {
    const root = fileURLToPath(base);
    const file = await openCacheFile(root, fileURLToPath(target).slice(root.length));
    if (file === undefined) return undefined;
    const { size } = await file.stat().catch(async (err: unknown) => {
      await file.close();
      throw err;
    });
    return { stream: file.createReadStream(), length: size };
  }

  private async openHttp(target: URL, limit: number | undefined): Promise<NarStream | undefined> {
    // The connect timeout covers the headers only: a timeout signal would also cut the body later
    // (the transfer's own limits apply to it, nar-transfer.ts). Redirects stay in the origin.
    const controller = new AbortController();
    const { narConnectTimeoutMs } = this.settings;
    const timer = setTimeout(
      () => controller.abort(new DeadlineExceededError(`no answer within ${narConnectTimeoutMs} ms`)),
      narConnectTimeoutMs,
    );
    const res = await fetchSameOrigin(target, controller.signal)
      .catch((err: unknown) => {
        if (err instanceof FetchError) throw err;
        const cause = (err as { cause?: { code?: string } }).cause;
        throw new FetchError(target.href, cause?.code ?? (err as Error).message, undefined, { cause: err });
      })
      .finally(() => clearTimeout(timer));
    if (res.status === 404 || res.status === 410 || !res.ok || res.body === null) {
      await res.body?.cancel().catch(() => {});
      if (res.status === 404 || res.status === 410) return undefined;
      throw new FetchError(target.href, `HTTP ${res.status}`, res.status);
    }
    const declared = res.headers.get('content-length');
    const length = declared !== null && /^\d{1,15}$/.test(declared) ? Number(declared) : undefined;
    if (limit !== undefined && length !== undefined && length > limit) {
      await res.body.cancel().catch(() => {});
      throw new TooLargeError('NAR file', length, limit);
    }
    return { stream: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), length };
  }
}
