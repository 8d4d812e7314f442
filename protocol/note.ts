/**
 * C2SP signed notes (https://c2sp.org/signed-note), Ed25519 signatures only:
 *
 *     TEXT                                      UTF-8, ends in '\n', may contain blank lines
 *     (blank line)                              the LAST "\n\n" of the note separates
 *     — NAME BASE64(keyhash4 || signature)\n    one or more lines; U+2014 EM DASH, U+0020 SPACE
 *
 * For example:
 *
 *     If you think cryptography is the answer to your problem,
 *     then you don't know what your problem is.
 *
 *     — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=
 *
 * The whole note is valid UTF-8 with no ASCII control character other than '\n' (as
 * golang.org/x/mod/sumdb/note). Signatures cover the exact received text bytes: a note is never
 * re-serialized before it is verified.
 */
import { decodeBase64, encodeBase64 } from './base64.ts';
import { MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES } from './constants.ts';
import { signBytes, verifyBytes } from './ed25519.ts';
import { MalformedError, TooLargeError, VerificationError } from './errors.ts';
import { checkKeyName, type NoteSigner, type NoteVerifier } from './vkey.ts';

/** One signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  /** The key hash (key ID) the line names, a uint32. */
  readonly keyHash: number;
  /** The signature bytes after the 4-byte key hash. */
  readonly signature: Uint8Array;
  /** The line's base64 field, exactly as received. */
  readonly base64: string;
}

/** A note whose signatures have been checked against a set of known keys. */
export interface OpenedNote {
  /** The note text, final '\n' included, blank separator line excluded. */
  readonly text: string;
  /** The exact signed bytes of `text`: a view into the note passed to openNote, not a copy. */
  readonly textBytes: Uint8Array;
  /** Signatures by known keys, all verified (one per key). */
  readonly verified: readonly NoteSignature[];
  /** Signatures by keys not in the known set, not checked (duplicates dropped). */
  readonly unverified: readonly NoteSignature[];
}

const SIGNATURE_PREFIX = '— ';
const NEWLINE = 0x0a;
// Smallest signature field: a 4-byte key hash and at least one signature byte.
const MIN_SIGNATURE_BYTES = 5;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Throws unless every byte below 0x20 is '\n' (in UTF-8 such bytes only ever stand for themselves). */
function checkNoControls(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) {
    const u = bytes[i]!;
    if (u < 0x20 && u !== NEWLINE)
      throw new MalformedError('note', `control character 0x${u.toString(16).padStart(2, '0')} at ${i}`);
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new MalformedError('note', 'not valid UTF-8', { cause });
  }
}

/**
 * Signs `text` (which must end in '\n') with every signer, in order, and returns the note bytes.
 * The result never exceeds MAX_NOTE_BYTES, so openNote accepts what signNote makes.
 */
export function signNote(text: string, signers: readonly NoteSigner[]): Uint8Array {
  if (signers.length === 0 || signers.length > MAX_NOTE_SIGNATURES)
    throw new MalformedError('note', `need 1 to ${MAX_NOTE_SIGNATURES} signers, got ${signers.length}`);
  if (!text.endsWith('\n')) throw new MalformedError('note', 'text must end in a newline');
  if (/\p{Cs}/u.test(text)) throw new MalformedError('note', 'text is not valid Unicode (lone surrogate)');
  const textBytes = Buffer.from(text, 'utf8');
  if (textBytes.length > MAX_NOTE_BYTES) throw new TooLargeError('note', textBytes.length, MAX_NOTE_BYTES);
  checkNoControls(textBytes);
  const parts: Uint8Array[] = [textBytes, Uint8Array.of(NEWLINE)];
  for (const signer of signers) {
    checkKeyName(signer.name, 'note signer');
    const field = new Uint8Array(4 + 64);
    new DataView(field.buffer).setUint32(0, signer.keyHash);
    field.set(signBytes(signer.key, textBytes), 4);
    parts.push(Buffer.from(`${SIGNATURE_PREFIX}${signer.name} ${encodeBase64(field)}\n`, 'utf8'));
  }
  const note = Buffer.concat(parts);
  if (note.length > MAX_NOTE_BYTES) throw new TooLargeError('note', note.length, MAX_NOTE_BYTES);
  return new Uint8Array(note.buffer, note.byteOffset, note.byteLength);
}

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIGNATURE_PREFIX))
    throw new MalformedError('note', 'a line after the blank line is not a signature line');
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  if (space < 0) throw new MalformedError('note', 'signature line has no key name');
  const name = rest.slice(0, space);
  const base64 = rest.slice(space + 1);
  checkKeyName(name, 'note');
  const field = decodeBase64(base64, 'note');
  if (field.length < MIN_SIGNATURE_BYTES) throw new MalformedError('note', 'signature too short');
  const keyHash = new DataView(field.buffer, field.byteOffset, field.byteLength).getUint32(0);
  return { name, keyHash, signature: field.subarray(4), base64 };
}

/**
 * Parses a signed note strictly and verifies it against `known`. Signatures by unknown keys
 * (name and key hash not both matching a known key) are returned as unverified; a signature by a
 * known key that does not verify, or no verified signature at all, throws VerificationError.
 * Malformed notes throw MalformedError, oversized ones TooLargeError.
 */
export function openNote(note: Uint8Array, known: NoteVerifier | readonly NoteVerifier[]): OpenedNote {
  if (note.length > MAX_NOTE_BYTES) throw new TooLargeError('note', note.length, MAX_NOTE_BYTES);
  checkNoControls(note);
  const split = Buffer.from(note.buffer, note.byteOffset, note.byteLength).lastIndexOf('\n\n');
  if (split < 0) throw new MalformedError('note', 'no blank line before the signatures');
  const textBytes = note.subarray(0, split + 1);
  const sigBytes = note.subarray(split + 2);
  if (sigBytes.length === 0) throw new MalformedError('note', 'no signature lines');
  if (sigBytes[sigBytes.length - 1] !== NEWLINE)
    throw new MalformedError('note', 'signature lines must end in a newline');
  // Count lines before decoding or parsing any of them.
  let lineCount = 0;
  for (const b of sigBytes) if (b === NEWLINE) lineCount++;
  if (lineCount > MAX_NOTE_SIGNATURES)
    throw new MalformedError('note', `${lineCount} signatures exceed the limit of ${MAX_NOTE_SIGNATURES}`);

  const text = decodeUtf8(textBytes);
  const lines = decodeUtf8(sigBytes).slice(0, -1).split('\n');
  const signatures = lines.map(parseSignatureLine);

  const verifiers: readonly NoteVerifier[] = isVerifierList(known) ? known : [known];
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  for (const sig of signatures) {
    const matching = verifiers.filter((v) => v.name === sig.name && v.keyHash === sig.keyHash);
    const id = `${sig.name} ${sig.keyHash}`;
    if (matching.length === 0) {
      if (!seen.has(`${id} ${sig.base64}`)) unverified.push(sig);
      seen.add(`${id} ${sig.base64}`);
      continue;
    }
    // Every signature by a known key is checked, repeats included: a bad one rejects the note.
    if (!matching.some((v) => verifyBytes(v.key, textBytes, sig.signature)))
      throw new VerificationError('note', `bad signature by ${sig.name}`);
    if (!seen.has(id)) verified.push(sig);
    seen.add(id);
  }
  if (verified.length === 0) throw new VerificationError('note', 'no signature by a known key');
  return { text, textBytes, verified, unverified };
}

function isVerifierList(known: NoteVerifier | readonly NoteVerifier[]): known is readonly NoteVerifier[] {
  return Array.isArray(known);
}
