/**
 * Witness cosignatures on the checkpoints the monitor keeps (docs/PROTOCOL.md, "Witness cosignatures"):
 * which cosignature lines of a received note verify, how they merge into the note kept for a checkpoint,
 * and whether a note carries a log's witness quorum.
 *
 * A kept note is always a C2SP signed note: the checkpoint text, the blank line, the log's own signature
 * line, then the verified cosignature lines (one per witness, at most MAX_CHECKPOINT_COSIGNATURES, the
 * whole at most MAX_NOTE_BYTES). Lines by witnesses this node does not know cannot be verified and are
 * never kept (the signed-note rule: signatures by unknown keys are ignored).
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import {
  MAX_CHECKPOINT_COSIGNATURES,
  MAX_COSIGNATURE_FUTURE_SECONDS,
  MAX_NOTE_BYTES,
} from '../../protocol/constants.ts';
import { type Cosignature, verifyCosignatures, type WitnessKey } from '../../protocol/cosignature.ts';
import type { NoteSignature, OpenedNote } from '../../protocol/note.ts';
import type { NoteVerifier } from '../../protocol/vkey.ts';

/** A followed log's witness quorum: `quorum` of `witnesses` must have cosigned its newest checkpoint. */
export interface WitnessQuorum {
  readonly witnesses: readonly WitnessKey[];
  readonly quorum: number;
}

/** A verified cosignature with its line, as it travels. */
export interface CosignatureLine extends Cosignature {
  /** The signature line, its newline included. */
  readonly line: string;
}

/** What the lines of a received note come to. */
export interface ReceivedCosignatures {
  /** Verified, one per witness (the newest by timestamp). */
  readonly valid: readonly CosignatureLine[];
  /** Lines by witnesses this node does not know: passed on within the gossip budget, never kept. */
  readonly unknown: number;
}

const lineOf = (sig: NoteSignature) => `— ${sig.name} ${sig.base64}\n`;

/** The text bytes of a verified checkpoint: the note up to its blank line (valid UTF-8 round-trips). */
function textBytesOf(cp: SignedCheckpoint): Uint8Array {
  return cp.note.subarray(0, Buffer.byteLength(cp.text, 'utf8'));
}

/**
 * The cosignatures on `cp` (whose log signature is verified) by `witnesses`. Throws VerificationError
 * for a line naming a known witness that does not verify, or dated more than
 * MAX_COSIGNATURE_FUTURE_SECONDS after `now` (POSIX seconds).
 */
export function receivedCosignatures(
  cp: SignedCheckpoint,
  witnesses: readonly WitnessKey[],
  now: number,
): ReceivedCosignatures {
  const textBytes = textBytesOf(cp);
  const byWitness = new Map<WitnessKey, CosignatureLine>();
  let unknown = 0;
  for (const sig of cp.otherSignatures) {
    const opened: OpenedNote = { text: cp.text, textBytes, verified: [], unverified: [sig] };
    const [found] = verifyCosignatures(opened, witnesses, {
      now,
      maxFutureSeconds: MAX_COSIGNATURE_FUTURE_SECONDS,
    });
    if (found === undefined) {
      unknown++;
      continue;
    }
    const before = byWitness.get(found.witness);
    if (before === undefined || found.timestamp > before.timestamp)
      byWitness.set(found.witness, { ...found, line: lineOf(sig) });
  }
  return { valid: [...byWitness.values()], unknown };
}

/**
 * The note to keep for a checkpoint: `kept` (the note kept so far, or the received one for a new
 * checkpoint) with only its verified cosignatures, plus those of `received` by witnesses it lacks, within
 * the bounds above. `added` counts the cosignatures new to `kept`.
 */
export function mergeCosignatures(
  kept: SignedCheckpoint,
  keptValid: readonly CosignatureLine[],
  received: readonly CosignatureLine[],
): { note: Uint8Array; added: number } {
  const lines = keptValid.map((c) => c.line);
  const have = new Set(keptValid.map((c) => c.witness.vkey));
  const head = Buffer.concat([textBytesOf(kept), Buffer.from(`\n${lineOf(kept.signature)}`, 'utf8')]);
  let bytes = head.length + lines.reduce((n, l) => n + Buffer.byteLength(l, 'utf8'), 0);
  let added = 0;
  for (const c of received) {
    if (have.has(c.witness.vkey) || lines.length >= MAX_CHECKPOINT_COSIGNATURES) continue;
    const size = Buffer.byteLength(c.line, 'utf8');
    if (bytes + size > MAX_NOTE_BYTES) continue;
    have.add(c.witness.vkey);
    lines.push(c.line);
    bytes += size;
    added++;
  }
  const note = Buffer.concat([head, Buffer.from(lines.join(''), 'utf8')]);
  return { note: new Uint8Array(note.buffer, note.byteOffset, note.byteLength), added };
}

/**
 * How many of `quorum`'s witnesses validly cosigned the kept note `note` of a log (checked again here:
 * the gate trusts nothing it did not verify itself).
 */
export function cosignersOf(note: Uint8Array, log: NoteVerifier, quorum: WitnessQuorum, now: number): number {
  try {
    return receivedCosignatures(openCheckpoint(note, log), quorum.witnesses, now).valid.length;
  } catch {
    return 0;
  }
}

/** POSIX seconds now: cosignature timestamps are checked against it. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
