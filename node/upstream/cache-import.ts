/**
 * Importing a binary cache's history: every narinfo the cache lists (or the caller names) that is
 * signed by one of the given keys becomes a log entry (its fingerprint) handed to a sink, normally
 * the running node's submission socket. Narinfos that are missing, malformed, describe another path,
 * are unsigned or carry no valid signature by a given key are refused one by one, with a reason.
 *
 * The listing is sorted and worked through in pages: fetch a page with bounded concurrency, verify,
 * hand the good entries to the sink, then record the last hash part of the page in a small state file
 * (`<data-dir>/imports/<sha256(url)>.json`). A rerun after an interruption skips what is recorded; the
 * state is deleted once the import completes, so a later run imports the cache afresh (the node's
 * log skips entries it already holds, so overlap is harmless). The state also remembers the key set
 * and the listing source: a rerun with other keys or another paths list starts over. Narinfos the
 * cache gains meanwhile that sort before the recorded position wait for the next full run.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '@libp2p/logger';
import { type VerifyingKey, verifyingKey } from '../../protocol/ed25519.ts';
import { MalformedError, TooLargeError } from '../../protocol/errors.ts';
import { formatNixPublicKey, type NixPublicKey } from '../../protocol/keys.ts';
import { type Narinfo, parseNarinfo } from '../../protocol/narinfo.ts';
import {
  narinfoFingerprint,
  parseNarinfoSignature,
  verifyFingerprint,
} from '../../protocol/narinfo-signature.ts';
import { parseStorePath } from '../../protocol/store-path.ts';
import { submit } from '../socket/submit-client.js';
import { type BinaryCacheOptions, openBinaryCache, parseHashPartList } from './binary-cache.ts';
import {
  type ImportState,
  loadState,
  type Refusal,
  type RefusalReason,
  STATE_VERSION,
  saveState,
} from './import-progress.ts';

const log = logger('trustix:cache-import');

/** Receives verified entries (fingerprints); resolves once they are durably accepted. */
export type EntrySink = (entries: string[]) => Promise<void>;

export interface ImportProgress {
  /** 'listed' once, 'narinfo' after each verdict, 'page' after each page is handed over and recorded. */
  readonly kind: 'listed' | 'narinfo' | 'page';
  readonly listed: number;
  /** Skipped + verdicts of this run. */
  readonly done: number;
  readonly imported: number;
  readonly refused: number;
  readonly skipped: number;
}

export interface CacheImportOptions {
  readonly url: string;
  /** A narinfo is accepted when signed by any of these keys. */
  readonly keys: readonly NixPublicKey[];
  readonly sink: EntrySink;
  /** Data directory for the resume state; without it the import is not resumable. */
  readonly dataDir?: string;
  /** Contents of a paths list (store paths or hash parts per line) instead of listing the cache. */
  readonly paths?: string;
  /** Narinfo fetches in flight. Default 8. */
  readonly concurrency?: number;
  /** Narinfos per page (one sink call and one state write). Default 256. */
  readonly pageSize?: number;
  /** Ignore and drop any saved progress. */
  readonly restart?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ImportProgress) => void;
  readonly cache?: BinaryCacheOptions;
}

export interface ImportSummary {
  readonly url: string;
  readonly storeDir: string;
  readonly listed: number;
  /** Entries handed to the sink in this run. */
  readonly imported: number;
  /** Narinfos done by an earlier, interrupted run of this import (not fetched again). */
  readonly skipped: number;
  /** Refusals of the whole import, earlier interrupted runs included. */
  readonly refused: number;
  readonly refusedByReason: Readonly<Partial<Record<RefusalReason, number>>>;
  /** Up to MAX_REFUSAL_DETAILS refusals, in listing order. */
  readonly refusals: readonly Refusal[];
  readonly resumed: boolean;
}

/** Refusals kept in detail (in memory and in the state file); beyond this only counted. */
export const MAX_REFUSAL_DETAILS = 1000;

interface TrustedKey {
  readonly name: string;
  readonly key: VerifyingKey;
}

/** Runs an import to the end (or until `signal` aborts or an error stops it, with progress saved). */
export async function importCache(options: CacheImportOptions): Promise<ImportSummary> {
  if (options.keys.length === 0) throw new MalformedError('import keys', 'give at least one trusted key');
  const concurrency = positive(options.concurrency ?? 8, 'concurrency');
  const pageSize = positive(options.pageSize ?? 256, 'page size');
  const trusted = options.keys.map((k) => ({ name: k.name, key: verifyingKey(k.publicKey) }));
  const cache = openBinaryCache(options.url, options.cache);
  const { signal } = options;

  const info = await cache.info(signal);
  const listing =
    options.paths !== undefined ? parseHashPartList(options.paths, info.storeDir) : await cache.list(signal);
  const fresh: ImportState = {
    version: STATE_VERSION,
    url: cache.url,
    source: options.paths !== undefined ? `paths:${sha256(listing.join('\n'))}` : 'index',
    keys: options.keys.map(formatNixPublicKey).sort(),
    cursor: '',
    refused: 0,
    refusedByReason: {},
    refusals: [],
  };
  const stateFile =
    options.dataDir === undefined ? undefined : join(options.dataDir, 'imports', `${sha256(cache.url)}.json`);
  if (stateFile !== undefined && options.restart) await rm(stateFile, { force: true });
  const saved = stateFile === undefined || options.restart ? undefined : await loadState(stateFile, fresh);
  const state = saved ?? fresh;

  let start = listing.findIndex((h) => h > state.cursor);
  if (start < 0) start = listing.length;
  const skipped = start;
  let imported = 0;
  let verdicts = 0;
  const progress = (kind: ImportProgress['kind']) =>
    options.onProgress?.({
      kind,
      listed: listing.length,
      done: skipped + verdicts,
      imported,
      refused: state.refused,
      skipped,
    });
  log('%s: %d narinfos listed, %d done earlier', cache.url, listing.length, skipped);
  progress('listed');

  for (let i = start; i < listing.length; i += pageSize) {
    signal?.throwIfAborted();
    const page = listing.slice(i, i + pageSize);
    const verdictsOfPage = await mapBounded(page, concurrency, async (hashPart) => {
      const verdict = await cache.narinfo(hashPart, signal).then(
        (bytes) => judge(hashPart, bytes, info.storeDir, trusted),
        (err: unknown): Refusal => {
          // An oversize narinfo is the cache's bad answer for this path, not a failure of the import.
          if (!(err instanceof TooLargeError)) throw err;
          return {
            hashPart,
            reason: 'malformed',
            message: `narinfo exceeds the limit of ${err.limit} bytes`,
          };
        },
      );
      verdicts++;
      progress('narinfo');
      return verdict;
    });
    const entries: string[] = [];
    for (const v of verdictsOfPage) {
      if (typeof v === 'string') entries.push(v);
      else recordRefusal(state, v);
    }
    if (entries.length > 0) await options.sink(entries);
    imported += entries.length;
    state.cursor = page[page.length - 1]!;
    if (stateFile !== undefined) await saveState(stateFile, state);
    progress('page');
  }
  if (stateFile !== undefined) await rm(stateFile, { force: true });

  return {
    url: cache.url,
    storeDir: info.storeDir,
    listed: listing.length,
    imported,
    skipped,
    refused: state.refused,
    refusedByReason: state.refusedByReason,
    refusals: state.refusals,
    resumed: saved !== undefined,
  };
}

/** The verdict on one narinfo: its fingerprint (the entry), or why it is refused. */
function judge(
  hashPart: string,
  bytes: Uint8Array | undefined,
  storeDir: string,
  trusted: readonly TrustedKey[],
): string | Refusal {
  if (bytes === undefined)
    return { hashPart, reason: 'not-found', message: 'the cache has no narinfo for it' };
  let info: Narinfo;
  let fingerprint: string;
  try {
    info = parseNarinfo(bytes, storeDir);
    fingerprint = narinfoFingerprint(info);
  } catch (err) {
    if (err instanceof MalformedError) return { hashPart, reason: 'malformed', message: err.message };
    throw err;
  }
  const storePath = info.storePath;
  if (parseStorePath(storePath, storeDir).hashPart !== hashPart)
    return { hashPart, storePath, reason: 'wrong-path', message: `served as ${hashPart}.narinfo` };
  if (info.sigs.length === 0) return { hashPart, storePath, reason: 'unsigned', message: 'no Sig line' };
  const names = [...new Set(info.sigs.map((s) => parseNarinfoSignature(s).keyName))];
  const candidates = trusted.filter((k) => names.includes(k.name));
  if (candidates.length === 0)
    return {
      hashPart,
      storePath,
      reason: 'untrusted-key',
      message: `signed only by ${names.join(', ')}, none of the trusted keys`,
    };
  for (const sig of info.sigs)
    for (const k of candidates) if (verifyFingerprint(fingerprint, sig, k.name, k.key)) return fingerprint;
  return {
    hashPart,
    storePath,
    reason: 'bad-signature',
    message: `the signature by ${candidates[0]!.name} does not match the narinfo (altered StorePath, NarHash, NarSize or References, or a corrupt or foreign signature)`,
  };
}

/**
 * A sink that hands entries to the node at `socketPath`, split into requests that stay well under
 * the socket's 1 MiB / 10,000-submission request limits.
 */
export function submitSink(
  socketPath: string,
  maxRequestBytes = 512 * 1024,
  maxPerRequest = 5000,
): EntrySink {
  return async (entries) => {
    let batch: { kind: 'entry'; entry: string }[] = [];
    let bytes = 0;
    for (const entry of entries) {
      const size = Buffer.byteLength(entry) + 32;
      if (batch.length > 0 && (bytes + size > maxRequestBytes || batch.length >= maxPerRequest)) {
        await submit(socketPath, batch);
        batch = [];
        bytes = 0;
      }
      batch.push({ kind: 'entry', entry });
      bytes += size;
    }
    if (batch.length > 0) await submit(socketPath, batch);
  };
}

function recordRefusal(state: ImportState, refusal: Refusal): void {
  state.refused++;
  state.refusedByReason[refusal.reason] = (state.refusedByReason[refusal.reason] ?? 0) + 1;
  if (state.refusals.length < MAX_REFUSAL_DETAILS) state.refusals.push(refusal);
  log('refused %s: %s: %s', refusal.hashPart, refusal.reason, refusal.message);
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order; stops at the first error. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function positive(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new MalformedError(what, `expected a positive integer, got ${n}`);
  return n;
}
