/**
 * protocol/sync-progress.ts: the body of a tile exchange `<logID>/progress` answer is parsed strictly.
 */
import test from 'ava';
import { openCheckpoint, signCheckpoint } from '../protocol/checkpoint.ts';
import { MalformedError, VerificationError } from '../protocol/errors.ts';
import { generateNixSecretKey, logKeyOf, logSigner } from '../protocol/keys.ts';
import { leafHash } from '../protocol/merkle.ts';
import { formatSyncProgress, openSyncProgress } from '../protocol/sync-progress.ts';

const secret = generateNixSecretKey('progress-log');
const key = logKeyOf(secret);
const root = leafHash(new TextEncoder().encode('root'));
const target = openCheckpoint(
  signCheckpoint({ origin: secret.name, size: 1000, root, extensions: [] }, logSigner(secret)),
  key.verifier,
);
/** A body with any `verified` (formatSyncProgress refuses invalid ones). */
const raw = (verified: bigint, note = target.note) => {
  const body = new Uint8Array(8 + note.length);
  new DataView(body.buffer).setBigUint64(0, verified);
  body.set(note, 8);
  return body;
};

test('a progress round-trips: none yet, whole tiles, all of the target', (t) => {
  for (const verified of [0, 256, 768, 1000]) {
    const claim = openSyncProgress(formatSyncProgress(verified, target), key.verifier);
    t.is(claim.verified, verified);
    t.deepEqual(claim.target.note, target.note);
  }
});

test('a progress beyond the target, not on a tile boundary or too large is malformed', (t) => {
  for (const verified of [1001n, 300n, 2n ** 53n, 2n ** 64n - 1n])
    t.throws(() => openSyncProgress(raw(verified), key.verifier), { instanceOf: MalformedError });
  t.throws(() => formatSyncProgress(999, target), { instanceOf: RangeError });
  t.throws(() => openSyncProgress(raw(0n).subarray(0, 8), key.verifier), { instanceOf: MalformedError });
  t.throws(() => openSyncProgress(new Uint8Array(8 + 16 * 1024 + 1), key.verifier), {
    instanceOf: MalformedError,
  });
});

test('a progress whose target is not signed by the log key does not verify', (t) => {
  const other = generateNixSecretKey('progress-log');
  const forged = signCheckpoint({ origin: other.name, size: 1000, root, extensions: [] }, logSigner(other));
  t.throws(() => openSyncProgress(raw(256n, forged), key.verifier), { instanceOf: VerificationError });
});
