/**
 * One bounded HTTP GET, for everything the node reads from servers it does not control (binary caches,
 * log mirrors): a time limit for the whole exchange, body included; a size cap enforced while reading
 * (and up front from Content-Length); retries with jittered exponential backoff for transient failures
 * only (network errors, timeouts, 5xx, 408, 429). 404 and 410 mean "not there": undefined, not an error.
 * Redirects are followed only within the URL's own origin (at most MAX_REDIRECTS): a server must not send
 * the node to another host, such as a loopback, private or link-local address (docs/SECURITY.md).
 */
import { logger } from '@libp2p/logger';
import { TooLargeError, TrustixError } from '../../protocol/errors.ts';
import { DeadlineExceededError } from '../errors.ts';

const log = logger('trustix:fetch');

export interface BoundedFetchOptions {
  /** Time for one request, body included. Default 10 s. */
  readonly timeoutMs?: number;
  /** Further attempts after a transient failure. Default 3. */
  readonly retries?: number;
  /** First retry delay; doubles on each retry. Default 250 ms. */
  readonly backoffMs?: number;
  readonly signal?: AbortSignal;
}

export interface FetchedBody {
  readonly bytes: Uint8Array;
  /** Lowercased Content-Type, '' when absent. */
  readonly contentType: string;
}

/** An HTTP exchange that failed for good (after retries, or at once for a permanent status). */
export class FetchError extends TrustixError {
  readonly url: string;
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;

  constructor(url: string, message: string, status?: number, options?: ErrorOptions) {
    super('ERR_FETCH', `${url}: ${message}`, options);
    this.url = url;
    this.status = status;
  }
}

/**
 * GETs `url` and reads at most `limit` bytes of body. Undefined on 404/410; TooLargeError past the cap;
 * FetchError otherwise; rejects with the signal's reason when `options.signal` aborts.
 */
export async function boundedGet(
  url: string,
  limit: number,
  options: BoundedFetchOptions = {},
): Promise<FetchedBody | undefined> {
  const { timeoutMs = 10_000, retries = 3, backoffMs = 250, signal } = options;
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await getOnce(url, limit, timeoutMs, signal);
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      if (attempt >= retries) throw new FetchError(url, err.message, err.status, { cause: err.cause });
      const delay = backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
      log('retrying %s in %d ms: %s', url, Math.round(delay), err.message);
      await sleep(delay, signal);
    }
  }
}

class TransientError extends Error {
  override readonly name = 'TransientError';
  readonly status: number | undefined;

  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

async function getOnce(
  url: string,
  limit: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<FetchedBody | undefined> {
  // One controller and one timer, cleared when done: AbortSignal.timeout() and any() stay armed (and
  // hold memory) until they fire, thousands of them per second under a substituter's load.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DeadlineExceededError(`no complete answer within ${timeoutMs} ms`));
  }, timeoutMs);
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await fetchSameOrigin(url, controller.signal);
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      const message = `HTTP ${res.status} ${res.statusText}`.trim();
      if (res.status >= 500 || res.status === 429 || res.status === 408)
        throw new TransientError(message, res.status);
      throw new FetchError(url, message, res.status);
    }
    const bytes = await readCapped(res, limit, url);
    return { bytes, contentType: (res.headers.get('content-type') ?? '').toLowerCase() };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof TransientError || err instanceof TooLargeError || err instanceof FetchError) throw err;
    if (timedOut)
      throw new TransientError(`no complete answer within ${timeoutMs} ms`, undefined, { cause: err });
    // fetch reports network failures (refused, reset, DNS) as TypeError with the reason in `cause`.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new TransientError(cause?.code ?? cause?.message ?? (err as Error).message, undefined, {
      cause: err,
    });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** At most this many redirects per request. */
export const MAX_REDIRECTS = 5;

/**
 * `fetch(url)`, following redirects only to URLs of the same origin (FetchError for any other, for a
 * redirect without a usable Location, or past MAX_REDIRECTS).
 */
export async function fetchSameOrigin(url: string | URL, signal: AbortSignal): Promise<Response> {
  const origin = new URL(url).origin;
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    const res = await fetch(target, { signal, redirect: 'manual' });
    if (res.status < 300 || res.status > 399 || res.status === 304) return res;
    await res.body?.cancel().catch(() => {});
    const location = res.headers.get('location');
    if (location === null || !URL.canParse(location, target.href))
      throw new FetchError(String(url), `HTTP ${res.status} redirect without a usable Location`, res.status);
    const next = new URL(location, target);
    if (next.origin !== origin)
      throw new FetchError(String(url), `redirect to another origin (${next.origin}) refused`, res.status);
    if (hop >= MAX_REDIRECTS)
      throw new FetchError(String(url), `more than ${MAX_REDIRECTS} redirects`, res.status);
    target = next;
  }
}

/** Reads a response body, refusing (and cancelling) it as soon as it passes `limit` bytes (TooLargeError). */
export async function readCapped(res: Response, limit: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw new TooLargeError(what, declared, limit);
  }
  const reader = res.body?.getReader();
  if (reader === undefined) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw new TooLargeError(what, total, limit);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0]! : new Uint8Array(Buffer.concat(chunks));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
