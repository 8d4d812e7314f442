/**
 * The checkpoint gossip message, the payload of CHECKPOINT_TOPIC (docs/PROTOCOL.md): the log's vkey
 * line, one '\n', then the signed checkpoint note exactly as the log signed it:
 *
 *     trustix-test-1+bd4343b8+AWnwpL1GVBDfFoEkJLfSILD6Urxr+IvB+OYho1G15qvK\n
 *     trustix-test-1\n
 *     0\n
 *     47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n
 *     \n
 *     — trustix-test-1 vUNDuPrfdN9lLbKGv8zMKC0v/MBj2IPYLhwLNYZFlaXMfSgTGgtXpL/ZEV4fz2mmE++s/VNkJ62tQWU+cWOLehWlXAY=\n
 *
 * The vkey names the log (its log ID is the hash of the vkey) and is the only key the note is checked
 * against, so a message is self-contained: every node learns every log from it. Parsing is strict:
 * size cap first, canonical vkey, the note's first line is the origin = the key's name, the note
 * verifies with that key, and a size-0 checkpoint has the empty root. Evidence messages
 * (EVIDENCE_TOPIC) are evidence documents as they are: see evidence.ts.
 */
import { openCheckpoint, type SignedCheckpoint } from './checkpoint.ts';
import { MAX_KEY_NAME_BYTES, MAX_NOTE_BYTES } from './constants.ts';
import { MalformedError, TooLargeError, VerificationError } from './errors.ts';
import { type LogKey, logIdOf } from './keys.ts';
import { EMPTY_ROOT, hashesEqual } from './merkle.ts';
import { boundedText } from './utf8.ts';
import { parseVkey } from './vkey.ts';

const WHAT = 'checkpoint message';
const NEWLINE = 0x0a;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Longest vkey: NAME '+' 8 hex '+' base64(0x01 || pub32) (44 characters); as vkey.ts computes it. */
export const MAX_VKEY_BYTES = MAX_KEY_NAME_BYTES + 1 + 8 + 1 + 44;
/** Largest checkpoint gossip message: the vkey line and a note of at most MAX_NOTE_BYTES. */
export const MAX_CHECKPOINT_MESSAGE_BYTES = MAX_VKEY_BYTES + 1 + MAX_NOTE_BYTES;

/** A parsed checkpoint message whose note verified with the key it names. */
export interface CheckpointMessage {
  readonly logKey: LogKey;
  readonly checkpoint: SignedCheckpoint;
  /** The message's exact bytes (what gossip forwards). */
  readonly bytes: Uint8Array;
}

/**
 * The log ID a checkpoint message names by its vkey line, before any check (undefined when it has no
 * vkey line within MAX_VKEY_BYTES). Lets a receiver ask its gossip budget first, since a signature check
 * costs far more than this hash: a message that parses names the same log.
 */
export function namedLogId(bytes: Uint8Array): string | undefined {
  const nl = bytes.subarray(0, MAX_VKEY_BYTES + 1).indexOf(NEWLINE);
  if (nl < 0) return undefined;
  return logIdOf(decoder.decode(bytes.subarray(0, nl)));
}

/**
 * Parses and verifies a checkpoint gossip message. Throws TooLargeError (checked first) or
 * MalformedError for bytes that are not a canonical message, VerificationError when the note is not
 * signed by the key the message names.
 */
export function parseCheckpointMessage(bytes: Uint8Array): CheckpointMessage {
  if (bytes.length > MAX_CHECKPOINT_MESSAGE_BYTES)
    throw new TooLargeError(WHAT, bytes.length, MAX_CHECKPOINT_MESSAGE_BYTES);
  // Only the first MAX_VKEY_BYTES + 1 bytes may hold the separator: no scanning of a long first line.
  const nl = bytes.subarray(0, MAX_VKEY_BYTES + 1).indexOf(NEWLINE);
  if (nl < 0) throw new MalformedError(WHAT, 'expected a vkey line ending in a newline');
  const line = boundedText(bytes.subarray(0, nl), WHAT, MAX_VKEY_BYTES);
  const verifier = parseVkey(line);
  // The log ID hashes the vkey string, so only the canonical spelling may name a log.
  if (verifier.vkey !== line) throw new MalformedError(WHAT, 'vkey is not in canonical form');
  const note = bytes.subarray(nl + 1);
  // Refuse a second vkey line or a note for another origin as malformed, before any signature check.
  const originLine = encoder.encode(`${verifier.name}\n`);
  if (Buffer.compare(note.subarray(0, originLine.length), originLine) !== 0)
    throw new MalformedError(
      WHAT,
      `the note's first line is not the origin ${JSON.stringify(verifier.name)}`,
    );
  const checkpoint = openCheckpoint(note, verifier);
  if (checkpoint.size === 0 && !hashesEqual(checkpoint.root, EMPTY_ROOT))
    throw new VerificationError(WHAT, 'a checkpoint of size 0 must have the empty root');
  const logKey: LogKey = {
    name: verifier.name,
    publicKey: verifier.publicKey,
    vkey: verifier.vkey,
    logId: logIdOf(verifier.vkey),
    verifier,
  };
  return { logKey, checkpoint, bytes: Uint8Array.from(bytes) };
}

/**
 * The checkpoint message for the log `vkey` and its signed note (exact bytes). Verifies the result as
 * parseCheckpointMessage does, so a node never gossips what its peers would reject.
 */
export function formatCheckpointMessage(vkey: string, note: Uint8Array): Uint8Array {
  const bytes = Buffer.concat([encoder.encode(`${vkey}\n`), note]);
  return parseCheckpointMessage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).bytes;
}
