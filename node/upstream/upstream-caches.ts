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
 *   (no `..` out of a file cache, no other host), and at most the narinfo's FileSize bytes are passed on.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { logger } from '@libp2p/logger';
import { LRUCache } from 'lru-cache';
import { MalformedError, TooLargeError } from '../../protocol/errors.ts';
import { type Narinfo, parseNarinfo } from '../../protocol/narinfo.ts';
import { narinfoFingerprint } from '../../protocol/narinfo-signature.ts';
import { DeadlineExceededError } from '../errors.ts';
import { FetchError } from '../http/bounded-fetch.ts';
import { type BinaryCache, openBinaryCache } from './binary-cache.ts';

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
  }

  /** The upstream URLs, normalized. */
  get urls(): string[] {
    return this.upstreams.map((u) => u.cache.url);
  }

  /** The first upstream narinfo for `hashPart` whose fingerprint is `fingerprint`; undefined when none has it. */
  find(hashPart: string, fingerprint: string): Promise<MatchedNarinfo | undefined> {
    if (this.upstreams.length === 0) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let pending = this.upstreams.length;
      for (const upstream of this.upstreams) {
        this.answer(upstream, hashPart).then((answer) => {
          if ('narinfo' in answer && answer.fingerprint === fingerprint)
            resolve({ upstream: upstream.cache.url, narinfo: answer.narinfo });
          else if (--pending === 0) resolve(undefined);
        });
      }
    });
  }

  /** Forgets every cached answer. */
  clear(): void {
    this.answers.clear();
  }

  /**
   * Opens the NAR file `narinfo.url` of `upstream` (one of ours). Undefined when the upstream has no
   * such file; MalformedError for a URL outside the upstream; other failures throw.
   */
  async openNar(upstream: string, narinfo: Narinfo): Promise<NarStream | undefined> {
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
    const limit = narinfo.fileSize ?? (narinfo.compression === 'none' ? narinfo.narSize : undefined);
    const opened =
      target.protocol === 'file:' ? await this.openFile(target) : await this.openHttp(target, limit);
    if (opened === undefined) return undefined;
    if (limit !== undefined && opened.length !== undefined && opened.length !== limit) {
      opened.stream.destroy();
      throw new MalformedError(
        'NAR file',
        `${target.href} is ${opened.length} bytes, the narinfo says ${limit}`,
      );
    }
    const guarded = opened.stream.pipe(this.guard(target.href, limit));
    opened.stream.on('error', (err) => guarded.destroy(err));
    guarded.on('close', () => opened.stream.destroy());
    return { stream: guarded, length: opened.length ?? limit };
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

  private async openFile(target: URL): Promise<NarStream | undefined> {
    const path = fileURLToPath(target);
    try {
      const info = await stat(path);
      if (!info.isFile()) return undefined;
      return { stream: createReadStream(path), length: info.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async openHttp(target: URL, limit: number | undefined): Promise<NarStream | undefined> {
    const res = await fetch(target, {
      signal: AbortSignal.timeout(this.settings.narConnectTimeoutMs),
      redirect: 'error',
    }).catch((err: unknown) => {
      const cause = (err as { cause?: { code?: string } }).cause;
      throw new FetchError(target.href, cause?.code ?? (err as Error).message, undefined, { cause: err });
    });
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

  /** Passes bytes through, cutting the transfer past `limit` bytes or after an idle pause. */
  private guard(what: string, limit: number | undefined): Transform {
    const idleMs = this.settings.narIdleTimeoutMs;
    let total = 0;
    let timer: NodeJS.Timeout | undefined;
    const arm = (stream: Transform) => {
      clearTimeout(timer);
      timer = setTimeout(
        () => stream.destroy(new DeadlineExceededError(`${what}: no data for ${idleMs} ms`)),
        idleMs,
      );
      timer.unref();
    };
    const stream: Transform = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        total += chunk.length;
        if (limit !== undefined && total > limit) {
          done(new TooLargeError('NAR file', total, limit));
          return;
        }
        arm(stream);
        done(null, chunk);
      },
      flush(done) {
        clearTimeout(timer);
        done();
      },
      destroy(err, done) {
        clearTimeout(timer);
        done(err);
      },
    });
    arm(stream);
    return stream;
  }
}
