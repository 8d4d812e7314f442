/**
 * Reading a Nix binary cache (`file://DIR` or `http(s)://URL`): its `nix-cache-info`, the list of its
 * narinfos, and one narinfo's bytes. Nothing here trusts the cache: every read has a size cap and
 * (over HTTP) a timeout; transient failures are retried with backoff; the bytes go to strict parsers.
 *
 * Listing: the binary-cache protocol has no index, because Nix only ever asks for paths it already
 * knows. A `file://` cache is a directory, so we list its `*.narinfo`. Over HTTP we fetch the cache
 * root and, when the server answers with a directory index (HTML as python's http.server or nginx
 * autoindex write it, or nginx's JSON autoindex), take the links that name `<hash32>.narinfo` in that
 * same directory, nothing else. Caches without an index (cache.nixos.org, harmonia, S3) cannot be
 * listed: the caller names the paths instead (`parseHashPartList`, the `--paths FILE` of import-cache).
 */
import { type FileHandle, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { MAX_NARINFO_BYTES } from '../../protocol/constants.ts';
import { MalformedError, TooLargeError } from '../../protocol/errors.ts';
import {
  checkStoreDir,
  DEFAULT_STORE_DIR,
  parseHashPart,
  parseNarinfoFileName,
  parseStorePath,
  STORE_PATH_HASH_CHARS,
} from '../../protocol/store-path.ts';
import { BinaryCacheError } from '../errors.ts';
import { boundedGet, FetchError, type FetchedBody } from '../http/bounded-fetch.ts';
import { openCacheFile } from './cache-file.ts';

/** What `nix-cache-info` says. */
export interface CacheInfo {
  readonly storeDir: string;
  readonly wantMassQuery?: boolean;
  readonly priority?: number;
}

export interface BinaryCacheOptions {
  /** Time for one HTTP request, body included. Default 10 s. */
  readonly timeoutMs?: number;
  /** Further attempts after a transient failure (network, timeout, 5xx, 429). Default 3. */
  readonly retries?: number;
  /** First retry delay; doubles on each retry. Default 250 ms. */
  readonly backoffMs?: number;
  /** Largest directory listing accepted. Default 64 MiB. */
  readonly maxIndexBytes?: number;
}

export interface BinaryCache {
  /** The cache's URL, normalized to end in '/'. */
  readonly url: string;
  /** Reads `nix-cache-info`; a cache without one is not a binary cache (BinaryCacheError). */
  info(signal?: AbortSignal): Promise<CacheInfo>;
  /** The hash parts of the cache's narinfos, sorted and unique (BinaryCacheError when unlistable). */
  list(signal?: AbortSignal): Promise<string[]>;
  /** One narinfo's bytes; undefined when the cache has none. TooLargeError over MAX_NARINFO_BYTES. */
  narinfo(hashPart: string, signal?: AbortSignal): Promise<Uint8Array | undefined>;
}

const MAX_CACHE_INFO_BYTES = 64 * 1024;
const DEFAULTS: Required<BinaryCacheOptions> = {
  timeoutMs: 10_000,
  retries: 3,
  backoffMs: 250,
  maxIndexBytes: 64 * 1024 * 1024,
};

/** Opens a cache by URL; only `file:`, `http:` and `https:` are understood. */
export function openBinaryCache(url: string, options: BinaryCacheOptions = {}): BinaryCache {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MalformedError('cache URL', `${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.search !== '' || parsed.hash !== '' || parsed.username !== '' || parsed.password !== '')
    throw new MalformedError('cache URL', 'must not carry a query, fragment or credentials');
  if (!parsed.pathname.endsWith('/')) parsed.pathname += '/';
  const settings = { ...DEFAULTS, ...options };
  if (parsed.protocol === 'file:') return new FileCache(parsed);
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return new HttpCache(parsed, settings);
  throw new MalformedError(
    'cache URL',
    `unsupported scheme ${parsed.protocol} (use file://, http:// or https://)`,
  );
}

/** Parses `nix-cache-info` (`Key: value` lines; unknown keys ignored, as Nix does). */
export function parseCacheInfo(text: string): CacheInfo {
  const info: { storeDir: string; wantMassQuery?: boolean; priority?: number } = {
    storeDir: DEFAULT_STORE_DIR,
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MalformedError('nix-cache-info', `line ${JSON.stringify(line.slice(0, 80))}`);
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'StoreDir') {
      checkStoreDir(value);
      info.storeDir = value;
    } else if (key === 'WantMassQuery') info.wantMassQuery = value === '1';
    else if (key === 'Priority' && /^\d{1,9}$/.test(value)) info.priority = Number(value);
  }
  return info;
}

/**
 * Parses a list of paths to import: one store path (`<storeDir>/<hash>-<name>`) or hash part per
 * line; blank lines and `#` comments are skipped. Returns sorted unique hash parts.
 */
export function parseHashPartList(text: string, storeDir = DEFAULT_STORE_DIR): string[] {
  const out = new Set<string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      out.add(line.startsWith('/') ? parseStorePath(line, storeDir).hashPart : parseHashPart(line));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new MalformedError('paths list', `line ${i + 1}: expected a store path or hash part (${why})`);
    }
  }
  return [...out].sort();
}

/** The hash part named by a listing entry `<hash32>.narinfo`, or undefined for anything else. */
function narinfoName(name: string): string | undefined {
  if (name.length !== STORE_PATH_HASH_CHARS + '.narinfo'.length) return undefined;
  try {
    return parseNarinfoFileName(name);
  } catch {
    return undefined;
  }
}

function sortedUnique(hashParts: Iterable<string>): string[] {
  return [...new Set(hashParts)].sort();
}

class FileCache implements BinaryCache {
  readonly url: string;
  private readonly dir: string;

  constructor(url: URL) {
    this.url = url.href;
    this.dir = fileURLToPath(url);
  }

  async info(): Promise<CacheInfo> {
    const bytes = await this.read('nix-cache-info', MAX_CACHE_INFO_BYTES);
    if (bytes === undefined) throw new BinaryCacheError(this.url, 'no nix-cache-info: not a binary cache');
    return cacheInfoOf(this.url, bytes);
  }

  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      throw new BinaryCacheError(this.url, `cannot list: ${(err as Error).message}`, { cause: err });
    }
    return sortedUnique(names.map(narinfoName).filter((h) => h !== undefined));
  }

  async narinfo(hashPart: string): Promise<Uint8Array | undefined> {
    return await this.read(`${parseHashPart(hashPart)}.narinfo`, MAX_NARINFO_BYTES);
  }

  /** Reads a file of at most `limit` bytes, never more than limit + 1; undefined when absent. */
  private async read(name: string, limit: number): Promise<Uint8Array | undefined> {
    let file: FileHandle | undefined;
    try {
      // No symlinks, FIFOs or paths out of the cache (cache-file.ts).
      file = await openCacheFile(this.dir, name);
    } catch (err) {
      throw new BinaryCacheError(this.url, `cannot read ${name}: ${(err as Error).message}`, { cause: err });
    }
    if (file === undefined) return undefined;
    try {
      // stat refuses the common oversize file cheaply; the loop still caps a file that grows meanwhile.
      const { size } = await file.stat();
      if (size > limit) throw new TooLargeError(name, size, limit);
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const chunk = Buffer.alloc(Math.min(64 * 1024, limit + 1));
        const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        if (total > limit) throw new TooLargeError(name, total, limit);
        chunks.push(chunk.subarray(0, bytesRead));
      }
      return new Uint8Array(Buffer.concat(chunks));
    } catch (err) {
      if (err instanceof TooLargeError) throw err;
      throw new BinaryCacheError(this.url, `cannot read ${name}: ${(err as Error).message}`, { cause: err });
    } finally {
      await file.close();
    }
  }
}

function cacheInfoOf(url: string, bytes: Uint8Array): CacheInfo {
  try {
    return parseCacheInfo(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new BinaryCacheError(url, `bad nix-cache-info: ${(err as Error).message}`, { cause: err });
  }
}

class HttpCache implements BinaryCache {
  readonly url: string;
  private readonly base: URL;
  private readonly settings: Required<BinaryCacheOptions>;

  constructor(base: URL, settings: Required<BinaryCacheOptions>) {
    this.base = base;
    this.url = base.href;
    this.settings = settings;
  }

  async info(signal?: AbortSignal): Promise<CacheInfo> {
    const body = await this.get('nix-cache-info', MAX_CACHE_INFO_BYTES, signal).catch((err: unknown) => {
      if (err instanceof TooLargeError) throw new BinaryCacheError(this.url, err.message, { cause: err });
      throw err;
    });
    if (body === undefined) throw new BinaryCacheError(this.url, 'no nix-cache-info: not a binary cache');
    return cacheInfoOf(this.url, body.bytes);
  }

  async list(signal?: AbortSignal): Promise<string[]> {
    const body = await this.get('', this.settings.maxIndexBytes, signal).catch((err: unknown) => {
      if (err instanceof TooLargeError)
        throw new BinaryCacheError(this.url, `directory index: ${err.message}`, { cause: err });
      throw err;
    });
    const noIndex = 'serves no directory index to list its narinfos; name the paths with --paths FILE';
    if (body === undefined) throw new BinaryCacheError(this.url, noIndex);
    const text = new TextDecoder().decode(body.bytes);
    if (body.contentType.startsWith('application/json')) return this.fromJsonIndex(text);
    if (body.contentType.startsWith('text/html')) return this.fromHtmlIndex(text);
    throw new BinaryCacheError(this.url, noIndex);
  }

  async narinfo(hashPart: string, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const body = await this.get(`${parseHashPart(hashPart)}.narinfo`, MAX_NARINFO_BYTES, signal);
    return body?.bytes;
  }

  /** nginx `autoindex_format json`: `[{"name": "...", "type": "file", ...}, ...]`. */
  private fromJsonIndex(text: string): string[] {
    let items: unknown;
    try {
      items = JSON.parse(text);
    } catch (cause) {
      throw new BinaryCacheError(this.url, 'directory index is not valid JSON', { cause });
    }
    if (!Array.isArray(items)) throw new BinaryCacheError(this.url, 'JSON directory index is not an array');
    const names = items.map((item) =>
      item !== null && typeof item === 'object' && typeof item.name === 'string' && item.type !== 'directory'
        ? narinfoName(item.name)
        : undefined,
    );
    return sortedUnique(names.filter((h) => h !== undefined));
  }

  /** Links `<a href="...">` that resolve to `<this directory>/<hash32>.narinfo`, and nothing else. */
  private fromHtmlIndex(html: string): string[] {
    const found: string[] = [];
    for (const m of html.matchAll(/\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi)) {
      const href = m[1] ?? m[2] ?? m[3] ?? '';
      let target: URL;
      try {
        target = new URL(href, this.base);
      } catch {
        continue;
      }
      if (target.origin !== this.base.origin || target.search !== '' || target.hash !== '') continue;
      const name = target.pathname.slice(this.base.pathname.length);
      if (!target.pathname.startsWith(this.base.pathname) || name.includes('/')) continue;
      const hashPart = narinfoName(name);
      if (hashPart !== undefined) found.push(hashPart);
    }
    return sortedUnique(found);
  }

  /** GET with the cache's bounds; undefined on 404/410; failures become BinaryCacheError. */
  private async get(name: string, limit: number, signal?: AbortSignal): Promise<FetchedBody | undefined> {
    const { timeoutMs, retries, backoffMs } = this.settings;
    try {
      return await boundedGet(new URL(name, this.base).href, limit, {
        timeoutMs,
        retries,
        backoffMs,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (err instanceof FetchError)
        throw new BinaryCacheError(this.url, `${name || 'directory index'}: ${err.message}`, { cause: err });
      throw err;
    }
  }
}
