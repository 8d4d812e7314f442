/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed tree head of a log, the text
 * of a C2SP signed note (see note.ts):
 *
 *     ORIGIN\n              non-empty, at most MAX_KEY_NAME_BYTES; in Trustix the log key's NAME
 *     SIZE\n                decimal, no leading zeros ("0" alone), at most 2^53-1
 *     BASE64(root)\n        the 32-byte root hash, standard padded base64 (44 characters)
 *     [EXTENSION\n]...      optional non-empty lines, kept opaque
 *
 * The empty log trustix-test-1, signed (its key hash is bd4343b8 = base64 "vUND"):
 *
 *     trustix-test-1
 *     0
 *     47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
 *
 *     — trustix-test-1 vUNDuPrfdN9lLbKGv8zMKC0v/MBj2IPYLhwLNYZFlaXMfSgTGgtXpL/ZEV4fz2mmE++s/VNkJ62tQWU+cWOLehWlXAY=
 *
 * The note bytes travel unchanged: openCheckpoint keeps the exact bytes it verified.
 */
import { decodeBase64, encodeBase64 } from './base64.ts';
import { HASH_SIZE, MAX_KEY_NAME_BYTES, MAX_NOTE_BYTES, MAX_TREE_SIZE } from './constants.ts';
import { parseDecimal } from './decimal.ts';
import { MalformedError, OutOfRangeError, TooLargeError, VerificationError } from './errors.ts';
import { type NoteSignature, openNote, signNote } from './note.ts';
import type { NoteSigner, NoteVerifier } from './vkey.ts';

/** The content of a checkpoint. */
export interface Checkpoint {
  readonly origin: string;
  /** Tree size: a safe integer, 0 <= size <= 2^53-1. */
  readonly size: number;
  /** Root hash of the tree of `size` entries (32 bytes). */
  readonly root: Uint8Array;
  /** Extension lines, without their newlines. */
  readonly extensions: readonly string[];
}

/** A checkpoint whose signature by the log key has been verified. */
export interface SignedCheckpoint extends Checkpoint {
  /** The exact note bytes that were verified; forward these, never a re-serialization. */
  readonly note: Uint8Array;
  /** The note text (the checkpoint body). */
  readonly text: string;
  /** The log key's verified signature. */
  readonly signature: NoteSignature;
  /** Other signatures on the note (e.g. witness cosignatures), not checked. */
  readonly otherSignatures: readonly NoteSignature[];
}

/** A line is non-empty, without controls (the note rule: nothing below U+0020) or lone surrogates. */
function checkLine(line: string, what: string): void {
  if (line.length === 0) throw new MalformedError('checkpoint', `empty ${what} line`);
  for (let i = 0; i < line.length; i++)
    if (line.charCodeAt(i) < 0x20) throw new MalformedError('checkpoint', `control character in ${what}`);
  if (/\p{Cs}/u.test(line)) throw new MalformedError('checkpoint', `lone surrogate in ${what}`);
}

function checkOrigin(origin: string): void {
  checkLine(origin, 'origin');
  const bytes = Buffer.byteLength(origin, 'utf8');
  if (bytes > MAX_KEY_NAME_BYTES)
    throw new MalformedError('checkpoint', `origin of ${bytes} bytes exceeds ${MAX_KEY_NAME_BYTES}`);
}

/** The checkpoint body (note text) of `cp`. Refuses values that parseCheckpoint would refuse. */
export function formatCheckpoint(cp: Checkpoint): string {
  checkOrigin(cp.origin);
  if (!Number.isSafeInteger(cp.size) || cp.size < 0 || cp.size > MAX_TREE_SIZE)
    throw new OutOfRangeError(`checkpoint size ${cp.size} is not an integer in [0, 2^53-1]`);
  if (cp.root.length !== HASH_SIZE)
    throw new MalformedError('checkpoint', `root must be ${HASH_SIZE} bytes, got ${cp.root.length}`);
  for (const ext of cp.extensions) checkLine(ext, 'extension');
  const text = [cp.origin, String(cp.size), encodeBase64(cp.root), ...cp.extensions, ''].join('\n');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_NOTE_BYTES) throw new TooLargeError('checkpoint', bytes, MAX_NOTE_BYTES);
  return text;
}

/** Parses a checkpoint body strictly and canonically (see the format above). */
export function parseCheckpoint(text: string): Checkpoint {
  // UTF-16 length never exceeds UTF-8 length: a cheap first test before counting bytes.
  if (text.length > MAX_NOTE_BYTES) throw new TooLargeError('checkpoint', text.length, MAX_NOTE_BYTES);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_NOTE_BYTES) throw new TooLargeError('checkpoint', bytes, MAX_NOTE_BYTES);
  if (!text.endsWith('\n')) throw new MalformedError('checkpoint', 'must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new MalformedError('checkpoint', 'expected origin, size and root lines');
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  checkOrigin(origin);
  const size = parseDecimal(sizeLine, 'checkpoint');
  const root = decodeBase64(rootLine, 'checkpoint', HASH_SIZE);
  for (const ext of extensions) checkLine(ext, 'extension');
  return { origin, size, root, extensions };
}

/** Signs `cp` with the log key and returns the note bytes. ORIGIN must be the log key's name. */
export function signCheckpoint(cp: Checkpoint, logKey: NoteSigner): Uint8Array {
  if (cp.origin !== logKey.name)
    throw new MalformedError('checkpoint', `origin ${JSON.stringify(cp.origin)} is not the log key name`);
  return signNote(formatCheckpoint(cp), [logKey]);
}

/**
 * Verifies a signed checkpoint note against the log's verifier, then parses it, and requires
 * ORIGIN to be the log key's name (so a log's signature over another origin is refused).
 * Throws TooLargeError / MalformedError / VerificationError.
 */
export function openCheckpoint(note: Uint8Array, log: NoteVerifier): SignedCheckpoint {
  const opened = openNote(note, [log]);
  const cp = parseCheckpoint(opened.text);
  if (cp.origin !== log.name)
    throw new VerificationError('checkpoint', `origin ${JSON.stringify(cp.origin)} is not ${log.name}`);
  return {
    ...cp,
    note: Uint8Array.from(note),
    text: opened.text,
    signature: opened.verified[0]!,
    otherSignatures: opened.unverified,
  };
}
