/**
 * Witness cosignatures: C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature), the timestamped
 * Ed25519 type `cosignature/v1`. A cosignature is one more signature line on a checkpoint note:
 *
 *     — <witness name> base64(key ID (4) || timestamp (u64, big-endian) || Ed25519 signature (64))
 *
 *     key ID  = SHA-256(<witness name> || "\n" || 0x04 || 32-byte public key)[:4]
 *     message = "cosignature/v1\n" || "time " || <timestamp, decimal, no leading zeros> || "\n"
 *               || the note's text (every line before the blank line, final "\n" included)
 *
 * For example, a witness that verified the checkpoint below at 1679315147 (2023-03-20) signs
 *
 *     cosignature/v1
 *     time 1679315147
 *     example.com/behind-the-sofa
 *     20852163
 *     CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
 *
 * and its line carries base64(keyID || 0x000000006418 50cb || signature), 76 bytes.
 *
 * Semantics (the spec's): as of that time, this is the largest consistent tree the witness has seen for the
 * log. Trustix witnesses cosign only checkpoints of logs they mirror and have verified consistent with every
 * checkpoint they saw before (docs/PROTOCOL.md, "Witness cosignatures"). Witness keys are vkeys with
 * signature type 0x04 (`NAME+KEYID+base64(0x04 || key)`), distinct from log keys (0x01), so a log key can
 * never pass for a witness or the other way round. Timestamps are limited to safe integers (the spec allows
 * up to 2^63 - 1; no real clock reaches 2^53 seconds).
 */
import { createHash } from 'node:crypto';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { MAX_KEY_NAME_BYTES, MAX_NOTE_SIGNATURES } from './constants.ts';
import {
  PUBLIC_KEY_SIZE,
  SIGNATURE_SIZE,
  type SigningKey,
  signBytes,
  signingKeyFromSeed,
  type VerifyingKey,
  verifyBytes,
  verifyingKey,
} from './ed25519.ts';
import { MalformedError, VerificationError } from './errors.ts';
import type { NoteSignature, OpenedNote } from './note.ts';
import { checkKeyName, keyHashHex } from './vkey.ts';

/** The signature type byte of Ed25519 cosignatures, in key IDs and witness vkeys. */
export const COSIGNATURE_TYPE = 0x04;
/** Bytes after the key ID: the timestamp and the signature. */
export const COSIGNATURE_BYTES = 8 + SIGNATURE_SIZE;

const HEADER = 'cosignature/v1\n';
const KEY_BASE64_LENGTH = 44; // base64 of 0x04 || 32 key bytes
const MAX_WITNESS_VKEY_BYTES = MAX_KEY_NAME_BYTES + 1 + 8 + 1 + KEY_BASE64_LENGTH;
const KEY_ID_HEX = /^[0-9a-f]{8}$/;
const utf8 = new TextEncoder();

/** A witness's public key: what cosignatures are checked against. */
export interface WitnessKey {
  readonly name: string;
  readonly keyId: number;
  readonly publicKey: Uint8Array;
  /** The canonical witness vkey. */
  readonly vkey: string;
  readonly key: VerifyingKey;
}

/** A witness's private key. */
export interface WitnessSigner {
  readonly name: string;
  readonly keyId: number;
  readonly publicKey: Uint8Array;
  readonly key: SigningKey;
}

/** A verified cosignature. */
export interface Cosignature {
  readonly witness: WitnessKey;
  /** POSIX seconds at which the witness signed. */
  readonly timestamp: number;
}

/** The 32-bit key ID of a witness key. */
export function witnessKeyId(name: string, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Uint8Array.of(0x0a, COSIGNATURE_TYPE))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

/** A witness key from its name and 32-byte public key. */
export function witnessKey(name: string, publicKey: Uint8Array): WitnessKey {
  checkKeyName(name, 'witness key');
  const key = verifyingKey(publicKey);
  const keyId = witnessKeyId(name, key.publicKey);
  const vkey = `${name}+${keyHashHex(keyId)}+${encodeBase64(Uint8Array.of(COSIGNATURE_TYPE, ...key.publicKey))}`;
  return { name, keyId, publicKey: key.publicKey, vkey, key };
}

/** A witness signer from its name and 32-byte seed. */
export function witnessSigner(name: string, seed: Uint8Array): WitnessSigner {
  checkKeyName(name, 'witness key');
  const key = signingKeyFromSeed(seed);
  return { name, keyId: witnessKeyId(name, key.publicKey), publicKey: key.publicKey, key };
}

/** Parses a witness vkey `NAME+KEYID+base64(0x04 || key)` strictly: canonical, type 0x04, matching key ID. */
export function parseWitnessVkey(text: string): WitnessKey {
  if (text.length > MAX_WITNESS_VKEY_BYTES || Buffer.byteLength(text, 'utf8') > MAX_WITNESS_VKEY_BYTES)
    throw new MalformedError('witness key', `longer than ${MAX_WITNESS_VKEY_BYTES} bytes`);
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw new MalformedError('witness key', 'expected NAME+KEYID+KEY');
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  if (!KEY_ID_HEX.test(idHex))
    throw new MalformedError('witness key', 'key ID must be 8 lowercase hex digits');
  const material = decodeBase64(text.slice(second + 1), 'witness key', 1 + PUBLIC_KEY_SIZE);
  if (material[0] !== COSIGNATURE_TYPE)
    throw new MalformedError('witness key', 'not a cosignature key (type 0x04): a log key cannot witness');
  const key = witnessKey(name, material.subarray(1));
  if (key.keyId !== Number.parseInt(idHex, 16))
    throw new MalformedError('witness key', 'key ID does not match the key');
  return key;
}

/** The bytes a witness signs for `text` (a note's text, final newline included) at `timestamp`. */
export function cosignedMessage(text: Uint8Array, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  return Buffer.concat([utf8.encode(`${HEADER}time ${timestamp}\n`), text]);
}

/** The signature line (with its newline) of `signer`'s cosignature on the note text `text` at `timestamp`. */
export function cosignLine(text: Uint8Array, signer: WitnessSigner, timestamp: number): string {
  const field = new Uint8Array(4 + COSIGNATURE_BYTES);
  const view = new DataView(field.buffer);
  view.setUint32(0, signer.keyId);
  view.setBigUint64(4, BigInt(timestamp));
  field.set(signBytes(signer.key, cosignedMessage(text, timestamp)), 12);
  return `— ${signer.name} ${encodeBase64(field)}\n`;
}

/**
 * Adds `signer`'s cosignature to a signed note (a checkpoint whose log signature the caller verified:
 * `opened` is its openNote result) and returns the new note. A cosignature by the same witness already on
 * the note is replaced, so a note carries at most one per witness.
 */
export function addCosignature(
  note: Uint8Array,
  opened: OpenedNote,
  signer: WitnessSigner,
  timestamp: number,
): Uint8Array {
  const lines = Buffer.from(note.subarray(opened.textBytes.length + 1))
    .toString('utf8')
    .split('\n');
  const own = `— ${signer.name} `;
  const kept = lines.filter((line) => line !== '' && !(line.startsWith(own) && idOf(line) === signer.keyId));
  if (kept.length + 1 > MAX_NOTE_SIGNATURES)
    throw new MalformedError('note', `a cosignature would exceed ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = `${kept.map((l) => `${l}\n`).join('')}${cosignLine(opened.textBytes, signer, timestamp)}`;
  return Buffer.concat([opened.textBytes, Uint8Array.of(0x0a), utf8.encode(signatures)]);
}

/** The key ID of a signature line, or undefined when it does not decode. */
function idOf(line: string): number | undefined {
  const field = line.slice(line.indexOf(' ', 2) + 1);
  try {
    const bytes = decodeBase64(field, 'note');
    return bytes.length >= 4 ? new DataView(bytes.buffer).getUint32(0) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The cosignatures of `witnesses` on an opened note, at most one per witness. Signatures by other keys are
 * ignored (the log's own is verified by openNote); a line naming a known witness and its key ID that is not
 * a valid cosignature throws VerificationError, as a bad signature by a known key does in openNote. A
 * timestamp more than `maxFutureSeconds` after `now` (POSIX seconds) is refused the same way.
 */
export function verifyCosignatures(
  opened: OpenedNote,
  witnesses: readonly WitnessKey[],
  { now, maxFutureSeconds = 600 }: { now: number; maxFutureSeconds?: number },
): Cosignature[] {
  const found = new Map<WitnessKey, Cosignature>();
  for (const sig of opened.unverified) {
    const witness = witnesses.find((w) => w.name === sig.name && w.keyId === sig.keyHash);
    if (witness === undefined) continue;
    const timestamp = checkCosignature(opened.textBytes, sig, witness);
    if (timestamp > now + maxFutureSeconds)
      throw new VerificationError('cosignature', `${witness.name} signed at ${timestamp}, in the future`);
    const before = found.get(witness);
    if (before === undefined || timestamp > before.timestamp) found.set(witness, { witness, timestamp });
  }
  return [...found.values()];
}

/** Checks one cosignature line against `witness`; returns its timestamp. */
function checkCosignature(text: Uint8Array, sig: NoteSignature, witness: WitnessKey): number {
  if (sig.signature.length !== COSIGNATURE_BYTES)
    throw new VerificationError(
      'cosignature',
      `${witness.name}: expected ${COSIGNATURE_BYTES} bytes after the key ID`,
    );
  const view = new DataView(sig.signature.buffer, sig.signature.byteOffset, sig.signature.byteLength);
  const big = view.getBigUint64(0);
  if (big > BigInt(Number.MAX_SAFE_INTEGER))
    throw new VerificationError('cosignature', `${witness.name}: timestamp out of range`);
  const timestamp = Number(big);
  if (!verifyBytes(witness.key, cosignedMessage(text, timestamp), sig.signature.subarray(8)))
    throw new VerificationError('cosignature', `bad cosignature by ${witness.name}`);
  return timestamp;
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0)
    throw new MalformedError('cosignature', 'timestamp must be a non-negative safe integer');
}
