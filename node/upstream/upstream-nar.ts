/**
 * A NAR file of an upstream cache, opened and checked as it streams: the transfer behind
 * UpstreamCaches.openNar (node/upstream/upstream-caches.ts, whose comment lists the checks). Apart from
 * the caches because they choose an upstream by its narinfos, while this module fetches a file from one
 * and bounds the transfer (docs/SECURITY.md "Upstream NAR transfers").
 */
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MalformedError, OutOfRangeError, TooLargeError } from '../../protocol/errors.ts';
import type { Narinfo } from '../../protocol/narinfo.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import { DeadlineExceededError } from '../errors.ts';
import { FetchError, fetchSameOrigin } from '../http/bounded-fetch.ts';
import { openCacheFile } from './cache-file.ts';
import { checkedTransfer } from './nar-transfer.ts';
import type { UpstreamCachesSettings } from './upstream-caches-init.ts';

/** An open NAR transfer. */
export interface NarStream {
  readonly stream: Readable;
  /** Bytes, when known up front. */
  readonly length: number | undefined;
}

/**
 * Opens the NAR file `narinfo.url` of `upstream` (one of ours), checked as it streams; the first
 * `offset` bytes are checked but not passed on. Undefined when the upstream has no such file;
 * MalformedError for a URL outside the upstream; other failures throw. A check that fails (now or
 * while streaming) calls `markBad` for the upstream and the path.
 */
export async function openUpstreamNar(
  upstream: string,
  narinfo: Narinfo,
  offset: number,
  settings: UpstreamCachesSettings,
  markBad: (upstream: string, hashPart: string, reason: string) => void,
): Promise<NarStream | undefined> {
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
  const hashPart = parseStorePath(narinfo.storePath, settings.storeDir).hashPart;
  const uncompressed = narinfo.compression === 'none';
  if (uncompressed && narinfo.fileSize !== undefined && narinfo.fileSize !== narinfo.narSize)
    throw new MalformedError('narinfo', `${target.href}: FileSize differs from NarSize, uncompressed`);
  const size = narinfo.fileSize ?? (uncompressed ? narinfo.narSize : undefined);
  const digests = [
    ...(narinfo.fileHash ? [{ name: 'FileHash', sha256: narinfo.fileHash }] : []),
    ...(uncompressed ? [{ name: 'NarHash', sha256: narinfo.narHash }] : []),
  ];
  if (size !== undefined && offset > size) throw new OutOfRangeError(`offset ${offset} past ${size} bytes`);
  const onBad = (err: Error) => markBad(upstream, hashPart, err.message);
  let opened: NarStream | undefined;
  try {
    opened =
      target.protocol === 'file:' ? await openFile(base, target) : await openHttp(target, size, settings);
    if (opened !== undefined && size !== undefined && opened.length !== undefined && opened.length !== size) {
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
    settings;
  const limits = {
    idleMs: narIdleTimeoutMs,
    deadlineMs: narDeadlineMs,
    minBytesPerSecond: narMinBytesPerSecond,
    rateWindowMs: narRateWindowMs,
    holdBackBytes: narHoldBackBytes,
  };
  const checked = opened.stream.pipe(checkedTransfer(target.href, { size, digests }, limits, offset, onBad));
  // An upstream that fails mid-transfer (reset, closed early) is skipped for the path, like a bad file.
  opened.stream.on('error', (err) => {
    onBad(err);
    checked.destroy(err);
  });
  checked.on('close', () => opened.stream.destroy());
  const length = opened.length ?? size;
  return { stream: checked, length: length === undefined ? undefined : length - offset };
}

/** Opens a NAR file of a `file://` upstream: no symlinks, FIFOs or paths out of its root (cache-file.ts). */
async function openFile(base: URL, target: URL): Promise<NarStream | undefined> {
  const root = fileURLToPath(base);
  const file = await openCacheFile(root, fileURLToPath(target).slice(root.length));
  if (file === undefined) return undefined;
  const { size } = await file.stat().catch(async (err: unknown) => {
    await file.close();
    throw err;
  });
  return { stream: file.createReadStream(), length: size };
}

async function openHttp(
  target: URL,
  limit: number | undefined,
  settings: UpstreamCachesSettings,
): Promise<NarStream | undefined> {
  // The connect timeout covers the headers only: a timeout signal would also cut the body later
  // (the transfer's own limits apply to it, nar-transfer.ts). Redirects stay in the origin.
  const controller = new AbortController();
  const { narConnectTimeoutMs } = settings;
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
