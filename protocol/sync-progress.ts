/**
 * A sync's progress, as the tile exchange answers `<logID>/progress` (docs/PROTOCOL.md, "Tile exchange"):
 * the checkpoint a node is syncing the log to (signed by the log key) and how much of that tree it has
 * verified, so that peers syncing too can fetch those tiles from it. The body:
 *
 *   8 bytes   verified: big-endian unsigned, 0 to the target's size; a multiple of 256 (every full
 *             level-0 tile and entry bundle below it is verified; 0: none yet) or the target's size
 *             (all of it)
 *   the rest  the target's signed checkpoint note, as `<logID>/checkpoint` gives it (at most
 *             MAX_NOTE_BYTES)
 *
 * Parsing is strict: the note must verify with the log key, and `verified` must be in range.
 */
import { openCheckpoint, type SignedCheckpoint } from './checkpoint.ts';
import { MAX_NOTE_BYTES, TILE_WIDTH } from './constants.ts';
import { MalformedError } from './errors.ts';
import type { NoteVerifier } from './vkey.ts';

/** A verified progress claim: the signed target, and how many of its leaves the node verified. */
export interface SyncProgressClaim {
  readonly target: SignedCheckpoint;
  readonly verified: number;
}

const HEADER_BYTES = 8;

/** Largest progress body. */
export const MAX_PROGRESS_BYTES = HEADER_BYTES + MAX_NOTE_BYTES;

/** Whether `verified` is a valid claim on a tree of `size`. */
export function isProgress(verified: number, size: number): boolean {
  return (
    Number.isSafeInteger(verified) &&
    verified >= 0 &&
    verified <= size &&
    (verified % TILE_WIDTH === 0 || verified === size)
  );
}

/** The body for `verified` leaves of the target note (whose size is `size`). Throws RangeError when invalid. */
export function formatSyncProgress(verified: number, target: { note: Uint8Array; size: number }): Uint8Array {
  if (!isProgress(verified, target.size))
    throw new RangeError(`${verified} verified leaves is not a progress of a tree of ${target.size}`);
  const body = new Uint8Array(HEADER_BYTES + target.note.length);
  new DataView(body.buffer).setBigUint64(0, BigInt(verified));
  body.set(target.note, HEADER_BYTES);
  return body;
}

/** Parses and verifies a progress body. Throws MalformedError, TooLargeError or VerificationError. */
export function openSyncProgress(body: Uint8Array, verifier: NoteVerifier): SyncProgressClaim {
  if (body.length <= HEADER_BYTES || body.length > MAX_PROGRESS_BYTES)
    throw new MalformedError('sync progress', `${body.length} bytes`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const verified = Number(view.getBigUint64(0));
  const target = openCheckpoint(body.subarray(HEADER_BYTES), verifier);
  if (!isProgress(verified, target.size))
    throw new MalformedError(
      'sync progress',
      `${verified} verified leaves is not a progress of a tree of ${target.size}`,
    );
  return { target, verified };
}
