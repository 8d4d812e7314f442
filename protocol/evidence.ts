/**
 * Fork evidence: a self-contained proof that a log key signed two histories that cannot both be true.
 * Anyone holding only the log's vkey can check it.
 *
 *   trustix-evidence/v1\n
 *   vkey <vkey>\n
 *   note <byte length of note A>\n
 *   <note A: a signed checkpoint, exact bytes as received>
 *   note <byte length of note B>\n
 *   <note B>
 *   proof <count>\n
 *   <base64 hash>\n            (count lines)
 *
 * Note A has the smaller size (equal sizes: the bytewise smaller note first), so one fork has one
 * document. Equal sizes: the roots differ and the proof is empty. Sizes m < n (m > 0): the proof is the
 * RFC 9162 consistency path from m to n in B's tree, preceded by B's hash of the first m leaves when m is
 * a power of two. It hashes to B's root and yields B's root of its first m leaves, which differs from
 * A's root: B's history does not extend A's. (A path that merely fails to verify proves nothing; this
 * one is bound to B's signed root.)
 */

import { decodeBase64, encodeBase64 } from './base64.ts';
import { openCheckpoint, type SignedCheckpoint } from './checkpoint.ts';
import {
  consistencyProofFromHashes,
  consistencyProofIds,
  rootsFromConsistencyPath,
} from './consistency-proof.ts';
import { MAX_EVIDENCE_BYTES, MAX_NOTE_BYTES, MAX_PROOF_HASHES } from './constants.ts';
import { parseDecimal } from './decimal.ts';
import { MalformedError, TooLargeError, VerificationError } from './errors.ts';
import { bitLength, EMPTY_ROOT, type Hash, type HashId, hashesEqual } from './merkle.ts';
import { boundedText } from './utf8.ts';
import { type NoteVerifier, parseVkey } from './vkey.ts';

const MAGIC = 'trustix-evidence/v1';
const WHAT = 'evidence';
const encoder = new TextEncoder();

/** Verified fork evidence. */
export interface Evidence {
  readonly vkey: string;
  /** The checkpoint with the smaller size (or the first of two equal sizes). */
  readonly a: SignedCheckpoint;
  readonly b: SignedCheckpoint;
  /** Empty for equal sizes; else the path from a.size to b.size in b's tree. */
  readonly proof: readonly Hash[];
  /** The document's exact bytes. */
  readonly bytes: Uint8Array;
}

const isPowerOfTwo = (n: number): boolean => 2 ** (bitLength(n) - 1) === n;

/** Ids of the hashes of B's tree (size `newSize`) that evidence against a checkpoint of `oldSize` needs. */
export function evidenceProofIds(oldSize: number, newSize: number): HashId[] {
  if (oldSize === newSize) return [];
  const ids = consistencyProofIds(oldSize, newSize);
  return isPowerOfTwo(oldSize) ? [{ level: bitLength(oldSize) - 1, index: 0 }, ...ids] : ids;
}

/** Assembles the evidence proof from the hashes of evidenceProofIds, in order. */
export function evidenceProofFromHashes(oldSize: number, newSize: number, hashes: readonly Hash[]): Hash[] {
  if (oldSize === newSize) return [];
  if (!isPowerOfTwo(oldSize)) return consistencyProofFromHashes(oldSize, newSize, hashes);
  return [hashes[0]!, ...consistencyProofFromHashes(oldSize, newSize, hashes.slice(1))];
}

/**
 * Builds (and verifies) the evidence document for two conflicting checkpoint notes of the log `vkey`.
 * `proof` comes from the larger checkpoint's tree (evidenceProofIds/FromHashes); empty for equal sizes.
 * Throws VerificationError when the notes do not actually conflict.
 */
export function buildEvidence(
  vkey: string,
  note1: Uint8Array,
  note2: Uint8Array,
  proof: readonly Hash[],
): Evidence {
  const verifier = parseVkey(vkey);
  const c1 = openCheckpoint(note1, verifier);
  const c2 = openCheckpoint(note2, verifier);
  const [a, b] =
    c1.size < c2.size || (c1.size === c2.size && Buffer.compare(note1, note2) <= 0) ? [c1, c2] : [c2, c1];
  const parts: Uint8Array[] = [
    encoder.encode(`${MAGIC}\nvkey ${vkey}\nnote ${a.note.length}\n`),
    a.note,
    encoder.encode(`note ${b.note.length}\n`),
    b.note,
    encoder.encode(`proof ${proof.length}\n${proof.map((h) => `${encodeBase64(h)}\n`).join('')}`),
  ];
  return verifyEvidence(Buffer.concat(parts));
}

/**
 * Parses and verifies an evidence document, needing nothing but its bytes (the vkey it names is the
 * accused log). Pass `expected` to require a particular log. Throws TooLargeError / MalformedError for
 * a bad document, VerificationError when it does not prove a fork.
 */
export function verifyEvidence(bytes: Uint8Array, expected?: NoteVerifier): Evidence {
  if (bytes.length > MAX_EVIDENCE_BYTES) throw new TooLargeError(WHAT, bytes.length, MAX_EVIDENCE_BYTES);
  const r = new Reader(bytes);
  if (r.line() !== MAGIC) throw new MalformedError(WHAT, `must start with ${MAGIC}`);
  const vkey = r.field('vkey');
  const verifier = parseVkey(vkey);
  if (expected !== undefined && expected.vkey !== verifier.vkey)
    throw new VerificationError(WHAT, 'evidence is about another log');
  const noteA = r.take(r.count('note', MAX_NOTE_BYTES));
  const noteB = r.take(r.count('note', MAX_NOTE_BYTES));
  const count = r.count('proof', MAX_PROOF_HASHES);
  const proof: Hash[] = [];
  for (let i = 0; i < count; i++) proof.push(decodeBase64(r.line(), 'evidence proof hash', 32));
  if (!r.done()) throw new MalformedError(WHAT, 'trailing data');

  const a = openCheckpoint(noteA, verifier);
  const b = openCheckpoint(noteB, verifier);
  if (a.size > b.size || (a.size === b.size && Buffer.compare(noteA, noteB) > 0))
    throw new MalformedError(WHAT, 'notes are not in canonical order');
  // A size-0 checkpoint with another root is no tree at all: two of them "disagree" about nothing.
  for (const cp of [a, b])
    if (cp.size === 0 && !hashesEqual(cp.root, EMPTY_ROOT))
      throw new VerificationError(WHAT, 'a checkpoint of size 0 must have the empty root');
  if (a.size === b.size) {
    if (proof.length !== 0) throw new MalformedError(WHAT, 'equal sizes take no proof');
    if (hashesEqual(a.root, b.root)) throw new VerificationError(WHAT, 'the checkpoints agree');
  } else {
    if (a.size === 0) throw new VerificationError(WHAT, 'every tree extends the empty tree');
    const [prefixRoot, root] = rootsFromConsistencyPath(a.size, b.size, proof);
    if (!hashesEqual(root, b.root))
      throw new VerificationError(WHAT, "the proof does not hash to the larger checkpoint's root");
    if (hashesEqual(prefixRoot, a.root))
      throw new VerificationError(WHAT, 'the larger tree extends the smaller one: no fork');
  }
  return { vkey, a, b, proof, bytes: Uint8Array.from(bytes) };
}

/** A strict line reader over the document. */
class Reader {
  private pos = 0;
  private readonly data: Uint8Array;

  constructor(data: Uint8Array) {
    this.data = data;
  }

  line(): string {
    const nl = this.data.indexOf(0x0a, this.pos);
    if (nl < 0) throw new MalformedError(WHAT, 'truncated');
    const text = boundedText(this.data.subarray(this.pos, nl), WHAT, MAX_EVIDENCE_BYTES);
    this.pos = nl + 1;
    return text;
  }

  field(name: string): string {
    const line = this.line();
    if (!line.startsWith(`${name} `)) throw new MalformedError(WHAT, `expected a ${name} line`);
    return line.slice(name.length + 1);
  }

  count(name: string, max: number): number {
    const n = parseDecimal(this.field(name), `evidence ${name} count`);
    if (n > max) throw new TooLargeError(`evidence ${name}`, n, max);
    return n;
  }

  take(length: number): Uint8Array {
    if (this.pos + length > this.data.length) throw new MalformedError(WHAT, 'truncated note');
    const out = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  done(): boolean {
    return this.pos === this.data.length;
  }
}
