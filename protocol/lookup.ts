/**
 * Lookups (`/trustix/lookup/1.0.0`, docs/PROTOCOL.md "Lookups"): a node that follows a log without a copy
 * of it asks a peer holding one for the log's entries of one store path, each with its inclusion proof in
 * a tree the asker has a verified checkpoint for. One length-prefixed message each way.
 *
 * Request, exactly 73 bytes:
 *
 *     u8        version      1
 *     [32]      log ID       the log ID's 32 bytes (its 64 hex digits decoded)
 *     [32]      hash part    the store path's hash part, 32 nix32 characters in ASCII
 *     u64       tree size    big-endian, 1 .. 2^53 - 1: the size of a checkpoint the asker verified
 *
 * Response: a status byte (LOOKUP_STATUS), and after `ok` (0) only:
 *
 *     u16       count        0 .. MAX_LOOKUP_ENTRIES; 0: the log has no entry for the path below the size
 *     count times:
 *       u64     index        strictly increasing, below the tree size
 *       u16     length       1 .. MAX_ENTRY_BYTES
 *       [length] entry       the entry (the fingerprint) as logged
 *       u8      n            0 .. 64
 *       [32 n]  proof        the RFC 6962 inclusion proof of the entry at index in the tree of that size
 *
 * Nothing may follow, and an answer is at most MAX_LOOKUP_RESPONSE_BYTES. Parsing is strict (MalformedError);
 * verifyLookupEntries then checks every entry against the asker's verified root (VerificationError). A
 * provider can leave entries out, never put one in: an answer proves what the log holds, not what it lacks.
 */
import {
  HASH_SIZE,
  LOOKUP_STATUS,
  MAX_ENTRY_BYTES,
  MAX_LOOKUP_ENTRIES,
  MAX_LOOKUP_RESPONSE_BYTES,
  MAX_TREE_SIZE,
} from './constants.ts';
import { checkEntry } from './entry.ts';
import { MalformedError, TooLargeError, VerificationError } from './errors.ts';
import { verifyInclusion } from './inclusion-proof.ts';
import { type Hash, leafHash } from './merkle.ts';
import { DEFAULT_STORE_DIR, parseHashPart, STORE_PATH_HASH_CHARS } from './store-path.ts';

export const LOOKUP_VERSION = 1;
export const LOOKUP_REQUEST_BYTES = 1 + 32 + STORE_PATH_HASH_CHARS + 8;
const MAX_PROOF = 64;
const LOG_ID = /^[0-9a-f]{64}$/;

export type LookupStatus = (typeof LOOKUP_STATUS)[keyof typeof LOOKUP_STATUS];

export interface LookupRequest {
  /** 64 lowercase hex digits. */
  readonly logId: string;
  /** The store path's hash part (32 nix32 characters). */
  readonly hashPart: string;
  readonly size: number;
}

/** One entry of an answer, as sent: not yet verified. */
export interface LookupEntry {
  readonly index: number;
  readonly entry: Uint8Array;
  readonly proof: readonly Hash[];
}

export type LookupResponse =
  | { readonly status: typeof LOOKUP_STATUS.ok; readonly entries: readonly LookupEntry[] }
  | { readonly status: Exclude<LookupStatus, typeof LOOKUP_STATUS.ok> };

export function encodeLookupRequest(request: LookupRequest): Uint8Array {
  if (!LOG_ID.test(request.logId))
    throw new MalformedError('lookup request', 'log ID must be 64 lowercase hex');
  const hashPart = parseHashPart(request.hashPart);
  checkSize(request.size, 'lookup request');
  const out = Buffer.alloc(LOOKUP_REQUEST_BYTES);
  out[0] = LOOKUP_VERSION;
  out.write(request.logId, 1, 'hex');
  out.write(hashPart, 33, 'ascii');
  out.writeBigUInt64BE(BigInt(request.size), 33 + STORE_PATH_HASH_CHARS);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export function parseLookupRequest(bytes: Uint8Array): LookupRequest {
  if (bytes.length !== LOOKUP_REQUEST_BYTES)
    throw new MalformedError('lookup request', `expected ${LOOKUP_REQUEST_BYTES} bytes, got ${bytes.length}`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b[0] !== LOOKUP_VERSION) throw new MalformedError('lookup request', `unknown version ${b[0]}`);
  const logId = b.toString('hex', 1, 33);
  const hashPart = parseHashPart(b.toString('latin1', 33, 33 + STORE_PATH_HASH_CHARS));
  const size = b.readBigUInt64BE(33 + STORE_PATH_HASH_CHARS);
  if (size > BigInt(MAX_TREE_SIZE)) throw new MalformedError('lookup request', 'tree size out of range');
  checkSize(Number(size), 'lookup request');
  return { logId, hashPart, size: Number(size) };
}

/** An answer: `ok` with `entries`, or another status alone. */
export function encodeLookupResponse(response: LookupResponse): Uint8Array {
  if (response.status !== LOOKUP_STATUS.ok) return Uint8Array.of(response.status);
  const { entries } = response;
  if (entries.length > MAX_LOOKUP_ENTRIES)
    throw new MalformedError('lookup answer', `more than ${MAX_LOOKUP_ENTRIES} entries`);
  const parts: Buffer[] = [Buffer.from([LOOKUP_STATUS.ok, entries.length >> 8, entries.length & 0xff])];
  for (const { index, entry, proof } of entries) {
    if (entry.length === 0 || entry.length > MAX_ENTRY_BYTES || proof.length > MAX_PROOF)
      throw new MalformedError('lookup answer', 'entry or proof out of range');
    const head = Buffer.alloc(10);
    head.writeBigUInt64BE(BigInt(index), 0);
    head.writeUInt16BE(entry.length, 8);
    parts.push(head, Buffer.from(entry), Buffer.from([proof.length]), ...proof.map((h) => Buffer.from(h)));
  }
  const out = Buffer.concat(parts);
  if (out.length > MAX_LOOKUP_RESPONSE_BYTES)
    throw new TooLargeError('lookup answer', out.length, MAX_LOOKUP_RESPONSE_BYTES);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Parses an answer to `request` strictly: sizes, order and ranges; the proofs are not checked here. */
export function parseLookupResponse(bytes: Uint8Array, request: LookupRequest): LookupResponse {
  if (bytes.length > MAX_LOOKUP_RESPONSE_BYTES)
    throw new TooLargeError('lookup answer', bytes.length, MAX_LOOKUP_RESPONSE_BYTES);
  if (bytes.length === 0) throw new MalformedError('lookup answer', 'empty');
  const status = bytes[0]!;
  if (status !== LOOKUP_STATUS.ok) {
    if (!(Object.values(LOOKUP_STATUS) as number[]).includes(status))
      throw new MalformedError('lookup answer', `unknown status ${status}`);
    if (bytes.length !== 1)
      throw new MalformedError('lookup answer', 'a status other than ok carries no body');
    return { status: status as Exclude<LookupStatus, 0> };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 1;
  const need = (n: number) => {
    if (pos + n > bytes.length) throw new MalformedError('lookup answer', 'truncated');
  };
  need(2);
  const count = view.getUint16(pos);
  pos += 2;
  if (count > MAX_LOOKUP_ENTRIES)
    throw new MalformedError('lookup answer', `${count} entries exceed ${MAX_LOOKUP_ENTRIES}`);
  const entries: LookupEntry[] = [];
  for (let i = 0; i < count; i++) {
    need(10);
    const big = view.getBigUint64(pos);
    const length = view.getUint16(pos + 8);
    pos += 10;
    if (big >= BigInt(request.size))
      throw new MalformedError('lookup answer', 'an index beyond the tree size');
    const index = Number(big);
    if (i > 0 && index <= entries[i - 1]!.index)
      throw new MalformedError('lookup answer', 'indices not increasing');
    if (length === 0) throw new MalformedError('lookup answer', 'an empty entry');
    need(length + 1);
    const entry = bytes.slice(pos, pos + length);
    pos += length;
    const n = bytes[pos]!;
    pos += 1;
    if (n > MAX_PROOF) throw new MalformedError('lookup answer', `a proof of ${n} hashes`);
    need(n * HASH_SIZE);
    const proof: Hash[] = [];
    for (let h = 0; h < n; h++, pos += HASH_SIZE) proof.push(bytes.slice(pos, pos + HASH_SIZE));
    entries.push({ index, entry, proof });
  }
  if (pos !== bytes.length) throw new MalformedError('lookup answer', 'trailing bytes');
  return { status: LOOKUP_STATUS.ok, entries };
}

/**
 * Checks every entry of an `ok` answer to `request` against `root`, the root of the asker's verified
 * checkpoint of size `request.size`: each is a valid entry for the asked path, included at its index.
 * Returns the entries' texts in index order. VerificationError names the first that fails.
 */
export function verifyLookupEntries(
  request: LookupRequest,
  root: Hash,
  entries: readonly LookupEntry[],
  storeDir = DEFAULT_STORE_DIR,
): { index: number; entry: string }[] {
  return entries.map(({ index, entry, proof }) => {
    let hashAt: number;
    try {
      hashAt = checkEntry(entry, storeDir);
    } catch (cause) {
      throw new VerificationError('lookup answer', `entry ${index} is not a valid entry`, { cause });
    }
    const hashPart = Buffer.from(entry.subarray(hashAt, hashAt + STORE_PATH_HASH_CHARS)).toString('latin1');
    if (hashPart !== request.hashPart)
      throw new VerificationError('lookup answer', `entry ${index} is for another path (${hashPart})`);
    verifyInclusion(index, request.size, leafHash(entry), proof, root);
    return { index, entry: Buffer.from(entry).toString('utf8') };
  });
}

function checkSize(size: number, what: string): void {
  if (!Number.isSafeInteger(size) || size < 1)
    throw new MalformedError(what, 'tree size must be 1 .. 2^53 - 1');
}
