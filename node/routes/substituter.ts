/**
 * The local substituter: the Nix binary-cache protocol, answered by the vote (docs/guides/substituter.md).
 *
 *   GET      /nix-cache-info               StoreDir, WantMassQuery, Priority
 *   GET|HEAD /<hash32>.narinfo             the decided path's narinfo, re-signed with the cache key
 *   GET|HEAD /nar/<hash32>/<narhash32>[-<filehash32>].nar[.<ext>]  its NAR, streamed from the
 *                                          upstream that served the narinfo (only its last 1 MiB is held
 *                                          back until the file is checked)
 *
 * A narinfo is served only when the vote decided a fingerprint for the path and an upstream cache has
 * a narinfo with exactly that fingerprint; its signatures are replaced by ours and its URL points at
 * our /nar/ route. The NAR URL names the path and the decided NAR hash, so a URL handed out before the
 * decision changed stops working instead of serving other bytes. Everything else is a 404, which makes
 * Nix build (or report that it cannot substitute): an undecided path, no matching upstream, an upstream
 * that fails or is slow. Served narinfos are cached (bounded) and reused only while the decision they
 * were made for stands.
 *
 * A NAR that fails its checks while streaming (upstream-nar.ts) is cut before its last byte and its
 * upstream is skipped for the path; the next request is served from the next matching upstream. NAR
 * responses of a known file accept `Range: bytes=N-`, which Nix sends when it retries a cut transfer:
 * the URL names the compressed file (`<narhash>-<filehash>`), so a resumed transfer continues the same
 * bytes, only from another upstream.
 */
import { logger } from '@libp2p/logger';
import { LRUCache } from 'lru-cache';
import { MalformedError } from '../../protocol/errors.ts';
import type { NixSecretKey } from '../../protocol/keys.ts';
import { formatNarinfo, type Narinfo } from '../../protocol/narinfo.ts';
import { signFingerprint } from '../../protocol/narinfo-signature.ts';
import { parseSha256 } from '../../protocol/nix-hash.ts';
import { encodeNix32 } from '../../protocol/nix32.ts';
import { parseHashPart, parseNarinfoFileName, STORE_PATH_HASH_CHARS } from '../../protocol/store-path.ts';
import type { HttpRequest, HttpResponse, HttpRoutes, Route } from '../http/route.ts';
import type { UpstreamCaches } from '../upstream/upstream-caches.ts';
import type { Decisions } from '../vote/decisions.ts';

const log = logger('trustix:substituter');

export interface SubstituterInit {
  /** Default '/nix/store'. */
  readonly storeDir?: string;
  /** `Priority` in nix-cache-info (lower is preferred; cache.nixos.org says 40). Default 30. */
  readonly priority?: number;
  /** Served narinfos kept in memory, in bytes. Default 32 MiB. */
  readonly maxCachedBytes?: number;
  /** How long "no upstream has the decided narinfo" is remembered. Default 30 s. */
  readonly negativeTtlMs?: number;
}

export interface SubstituterComponents {
  readonly decisions: Decisions;
  readonly upstreams: UpstreamCaches;
  /** The cache key: signs every narinfo served. */
  readonly cacheKey: NixSecretKey;
}

/** What was served for a path, for the decided fingerprint. */
interface Served {
  readonly fingerprint: string;
  /** Undefined: no upstream had it. */
  readonly found?: {
    readonly body: Uint8Array;
    /** Our NAR route, as in the narinfo's URL (no leading slash). */
    readonly url: string;
    readonly upstream: string;
    readonly narinfo: Narinfo;
  };
}

/** The substituter's routes, by name (the metrics count and time them). */
export const SUBSTITUTER_ROUTES = ['cache-info', 'narinfo', 'nar'] as const;
export type SubstituterRoute = (typeof SUBSTITUTER_ROUTES)[number];

const CACHE_INFO_HEADERS = { 'content-type': 'text/x-nix-cache-info' };
const NARINFO_SUFFIX = '.narinfo';
const NAR_PREFIX = '/nar/';
const NOT_FOUND: HttpResponse = {
  status: 404,
  headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
  body: 'not found\n',
};
const NARINFO_HEADERS = { 'content-type': 'text/x-nix-narinfo', 'cache-control': 'no-cache' };
const NAR_HEADERS = { 'content-type': 'application/x-nix-nar', 'cache-control': 'no-store' };
// Compression names Nix knows, for the NAR URL's extension (cosmetic: Nix reads `Compression:`).
const EXTENSIONS: Readonly<Record<string, string>> = {
  none: '',
  xz: '.xz',
  bzip2: '.bz2',
  zstd: '.zst',
  gzip: '.gz',
  br: '.br',
  lz4: '.lz4',
};

export class Substituter implements HttpRoutes {
  private readonly components: SubstituterComponents;
  private readonly cacheInfo: string;
  private readonly served: LRUCache<string, Served>;
  private readonly negativeTtlMs: number;
  private readonly inflight = new Map<string, Promise<Served>>();

  constructor(components: SubstituterComponents, init: SubstituterInit = {}) {
    this.components = components;
    const priority = init.priority ?? 30;
    if (!Number.isSafeInteger(priority) || priority < 0)
      throw new RangeError('priority must be a natural number');
    this.cacheInfo = `StoreDir: ${init.storeDir ?? '/nix/store'}\nWantMassQuery: 1\nPriority: ${priority}\n`;
    this.negativeTtlMs = init.negativeTtlMs ?? 30_000;
    this.served = new LRUCache({
      maxSize: init.maxCachedBytes ?? 32 * 1024 * 1024,
      sizeCalculation: (s) => 256 + s.fingerprint.length + (s.found ? 3 * s.found.body.length : 0),
    });
  }

  readonly routes: readonly Route[] = [
    {
      name: 'cache-info',
      paths: { exact: '/nix-cache-info' },
      handle: () => ({ headers: CACHE_INFO_HEADERS, body: this.cacheInfo }),
    },
    {
      name: 'narinfo',
      paths: { test: (path) => path.endsWith(NARINFO_SUFFIX) && path.lastIndexOf('/') === 0 },
      handle: (request) => this.narinfo(parseNarinfoFileName(request.path.slice(1))),
    },
    { name: 'nar', paths: { prefix: NAR_PREFIX }, handle: (request) => this.nar(request) },
  ] satisfies readonly (Route & { name: SubstituterRoute })[];

  /** Drops every served narinfo (e.g. after the upstreams changed). */
  clear(): void {
    this.served.clear();
  }

  private async narinfo(hashPart: string): Promise<HttpResponse> {
    const found = (await this.lookup(hashPart))?.found;
    if (found === undefined) return NOT_FOUND;
    return { headers: NARINFO_HEADERS, body: found.body };
  }

  private async nar(request: HttpRequest): Promise<HttpResponse> {
    const { path } = request;
    // /nar/<hash32>/...: the rest must be exactly the URL we handed out for the current decision.
    const hashPart = parseHashPart(path.slice(NAR_PREFIX.length, NAR_PREFIX.length + STORE_PATH_HASH_CHARS));
    if (path[NAR_PREFIX.length + STORE_PATH_HASH_CHARS] !== '/')
      throw new MalformedError('NAR path', 'expected /nar/<hash>/<file>');
    const offset = rangeStart(request.headers.range);
    const { upstreams } = this.components;
    // Each failure to open marks that upstream bad for the path, so each turn tries another one.
    for (let turn = 0; turn <= upstreams.urls.length; turn++) {
      const found = (await this.lookup(hashPart))?.found;
      if (found === undefined || request.path !== `/${found.url}`) return NOT_FOUND;
      const size = fileSize(found.narinfo);
      // Only a file the URL names by its hash can be resumed from another upstream.
      const resumable = size !== undefined && fileHashOf(found.narinfo) !== undefined;
      if (offset !== undefined && resumable && offset >= size)
        return {
          status: 416,
          headers: { ...NOT_FOUND.headers, 'content-range': `bytes */${size}` },
          body: 'range not satisfiable\n',
        };
      const from = offset !== undefined && resumable ? offset : 0;
      try {
        const nar = await upstreams.openNar(found.upstream, found.narinfo, from);
        if (nar === undefined) {
          log('%s: %s has no NAR file %s', hashPart, found.upstream, found.narinfo.url);
          continue;
        }
        const headers = resumable ? { ...NAR_HEADERS, 'accept-ranges': 'bytes' } : NAR_HEADERS;
        if (from > 0)
          return {
            status: 206,
            headers: { ...headers, 'content-range': `bytes ${from}-${size! - 1}/${size}` },
            body: nar.stream,
            length: size! - from,
          };
        return { headers, body: nar.stream, ...(nar.length !== undefined ? { length: nar.length } : {}) };
      } catch (err) {
        log.error('%s: NAR from %s: %s', hashPart, found.upstream, (err as Error).message);
      }
    }
    return NOT_FOUND;
  }

  /** The narinfo to serve for the current decision (undefined when undecided); never rejects. */
  private async lookup(hashPart: string): Promise<Served | undefined> {
    let fingerprint: string | undefined;
    try {
      fingerprint = (await this.components.decisions.decide(hashPart)).fingerprint;
    } catch (err) {
      // Nix treats errors other than 404 as fatal for the whole build: degrade, and say so in the log.
      log.error('%s: deciding failed: %O', hashPart, err);
      return undefined;
    }
    if (fingerprint === undefined) return undefined;
    const cached = this.served.get(hashPart);
    if (
      cached !== undefined &&
      cached.fingerprint === fingerprint &&
      (cached.found === undefined || !this.components.upstreams.isBad(cached.found.upstream, hashPart))
    )
      return cached;
    const key = `${hashPart}\n${fingerprint}`;
    let running = this.inflight.get(key);
    if (running === undefined) {
      running = this.prepare(hashPart, fingerprint).finally(() => this.inflight.delete(key));
      this.inflight.set(key, running);
    }
    return running;
  }

  private async prepare(hashPart: string, fingerprint: string): Promise<Served> {
    let served: Served = { fingerprint };
    try {
      const match = await this.components.upstreams.find(hashPart, fingerprint);
      if (match !== undefined) {
        const { narinfo, upstream } = match;
        const url = narUrl(hashPart, narinfo);
        const { name } = this.components.cacheKey;
        const sig = signFingerprint(fingerprint, name, this.components.cacheKey.signingKey);
        const body = new TextEncoder().encode(formatNarinfo(resigned(narinfo, url, sig)));
        served = { fingerprint, found: { body, url, upstream, narinfo } };
      } else log('%s: decided, but no upstream has a narinfo with that fingerprint', hashPart);
    } catch (err) {
      log.error('%s: preparing the narinfo failed: %O', hashPart, err);
    }
    this.served.set(hashPart, served, served.found ? {} : { ttl: this.negativeTtlMs });
    return served;
  }
}

/**
 * Our URL for the NAR file of `narinfo`: `nar/<hash>/<narhash>[-<filehash>].nar[.<ext>]`. The file hash
 * (of a compressed file that names one) makes the URL name the bytes, which lets a transfer resume.
 */
function narUrl(hashPart: string, narinfo: Narinfo): string {
  const file = fileHashOf(narinfo);
  const name = `${encodeNix32(narinfo.narHash)}${file === undefined ? '' : `-${encodeNix32(file)}`}`;
  return `nar/${hashPart}/${name}.nar${EXTENSIONS[narinfo.compression ?? 'bzip2'] ?? ''}`;
}

/** The SHA-256 of the file (uncompressed, the file is the NAR), when the narinfo names it. */
function fileHashOf(narinfo: Narinfo): Uint8Array | undefined {
  return narinfo.compression === 'none' ? narinfo.narHash : narinfo.fileHash;
}

/** The file's exact size, when the narinfo fixes it. */
function fileSize(narinfo: Narinfo): number | undefined {
  return narinfo.fileSize ?? (narinfo.compression === 'none' ? narinfo.narSize : undefined);
}

/** N of a `Range: bytes=N-` header (what Nix sends to resume); undefined for anything else (ignored). */
function rangeStart(range: string | undefined): number | undefined {
  const m = range === undefined ? null : /^bytes=(\d{1,15})-$/.exec(range);
  return m === null ? undefined : Number(m[1]);
}

/**
 * The narinfo we sign: only the fields the fingerprint covers (StorePath, NarHash, NarSize, References)
 * and those Nix needs to fetch the file (URL, Compression, FileHash, FileSize), since our signature
 * vouches for everything we serve. Deriver, System and unknown fields are dropped; CA is kept only when
 * it is `fixed:r:sha256:` of the decided NAR hash (the one form checkable here).
 */
function resigned(narinfo: Narinfo, url: string, sig: string): Narinfo {
  const { storePath, narHash, narSize, references, fileHash, fileSize, ca } = narinfo;
  return {
    storePath,
    url,
    compression: narinfo.compression ?? 'bzip2',
    ...(fileHash !== undefined ? { fileHash } : {}),
    ...(fileSize !== undefined ? { fileSize } : {}),
    narHash,
    narSize,
    ...(references !== undefined ? { references } : {}),
    sigs: [sig],
    ...(ca !== undefined && caMatches(ca, narHash) ? { ca } : {}),
    extra: [],
  };
}

function caMatches(ca: string, narHash: Uint8Array): boolean {
  if (!ca.startsWith('fixed:r:sha256:')) return false;
  try {
    return Buffer.from(parseSha256(ca.slice('fixed:r:'.length), 'CA')).equals(narHash);
  } catch {
    return false;
  }
}
