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
 *   FileSize, FileHash, the NAR hash when uncompressed, a deadline and a minimum rate; the transfer
 *   itself: upstream-nar.ts). A file that fails a check marks its upstream bad for that path: `find`
 *   then skips it, so the next matching upstream is served when Nix retries (docs/SECURITY.md "Upstream
 *   NAR transfers").
 * The settings and their defaults: upstream-caches-init.ts.
 */
import { logger } from '@libp2p/logger';
import { LRUCache } from 'lru-cache';
import { type Narinfo, parseNarinfo } from '../../protocol/narinfo.ts';
import { narinfoFingerprint } from '../../protocol/narinfo-signature.ts';
import { type BinaryCache, openBinaryCache } from './binary-cache.ts';
import {
  type UpstreamCachesInit,
  type UpstreamCachesSettings,
  upstreamCachesSettings,
} from './upstream-caches-init.ts';
import { type NarStream, openUpstreamNar } from './upstream-nar.ts';

const log = logger('trustix:upstream');

/** A narinfo that matched the decided fingerprint, and where it came from. */
export interface MatchedNarinfo {
  /** The upstream's URL (normalized, ends in '/'). */
  readonly upstream: string;
  readonly narinfo: Narinfo;
}

type Answer = { readonly narinfo: Narinfo; readonly fingerprint: string } | { readonly missing: string };

interface Upstream {
  readonly cache: BinaryCache;
  /** Resolves true once nix-cache-info confirmed the store directory (retried after a failure). */
  checked: Promise<boolean> | undefined;
}

export class UpstreamCaches {
  private readonly upstreams: Upstream[];
  private readonly settings: UpstreamCachesSettings;
  private readonly answers: LRUCache<string, Answer>;
  private readonly inflight = new Map<string, Promise<Answer>>();
  /** `${url}\n${hashPart}` of upstreams whose NAR for that path failed its checks. */
  private readonly bad: LRUCache<string, string>;

  constructor(urls: readonly string[], init: UpstreamCachesInit = {}) {
    this.settings = upstreamCachesSettings(init);
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
  openNar(upstream: string, narinfo: Narinfo, offset = 0): Promise<NarStream | undefined> {
    return openUpstreamNar(upstream, narinfo, offset, this.settings, (url, hashPart, reason) =>
      this.markBad(url, hashPart, reason),
    );
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
}
