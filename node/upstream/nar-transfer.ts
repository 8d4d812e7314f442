/**
 * The checks on one NAR file streamed from an upstream to Nix (docs/SECURITY.md "Upstream NAR
 * transfers"). The bytes pass through unchanged, but:
 * - the file must have exactly the narinfo's FileSize bytes (NarSize when uncompressed) and the SHA-256
 *   digests it names (FileHash; NarHash when uncompressed);
 * - the last `holdBackBytes` are held back until the digests are checked, so a bad file is cut before
 *   its last byte and Nix never receives a complete wrong file; a file no larger than that is checked
 *   whole before its first byte goes out, so Nix, having received nothing, retries at once (and is
 *   served the next upstream);
 * - the transfer has a deadline, a longest idle pause and a minimum rate (measured over windows, and
 *   only while the client keeps up: a slow reader is not the upstream's fault);
 * - `offset` bytes are read and hashed but not passed on (an HTTP Range request resuming a transfer).
 * A failure that is the upstream's doing calls `onBad` once, before the stream is destroyed with it.
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { MalformedError, TooLargeError } from '../../protocol/errors.ts';
import { UpstreamTransferError } from '../errors.ts';

export interface NarExpectation {
  /** Exact size of the file, when known. */
  readonly size: number | undefined;
  /** SHA-256 digests the whole file must have, each with its name for messages. */
  readonly digests: readonly { readonly name: string; readonly sha256: Uint8Array }[];
}

export interface TransferLimits {
  /** Longest pause between two chunks. */
  readonly idleMs: number;
  /** Time for the whole transfer. */
  readonly deadlineMs: number;
  /** Least bytes per second over each window of `rateWindowMs` (while the client keeps up). */
  readonly minBytesPerSecond: number;
  readonly rateWindowMs: number;
  /** Bytes held back until the file is checked (at least one chunk is). */
  readonly holdBackBytes: number;
}

/** A Transform checking the file as described above. */
export function checkedTransfer(
  what: string,
  expected: NarExpectation,
  limits: TransferLimits,
  offset: number,
  onBad: (reason: Error) => void,
): Transform {
  const hash = expected.digests.length > 0 ? createHash('sha256') : undefined;
  let total = 0;
  let emitted = 0;
  const held: Buffer[] = [];
  let heldBytes = 0;
  let windowBytes = 0;
  let failed = false;
  const timers: NodeJS.Timeout[] = [];
  let idle: NodeJS.Timeout | undefined;

  const fail = (err: Error): Error => {
    if (!failed) {
      failed = true;
      onBad(err);
    }
    return err;
  };
  /** The part of `chunk` at or past `offset` (bytes before it were already sent in an earlier transfer). */
  const pass = (chunk: Buffer): Buffer | undefined => {
    const start = emitted;
    emitted += chunk.length;
    if (emitted <= offset) return undefined;
    return start >= offset ? chunk : chunk.subarray(offset - start);
  };
  const stop = () => {
    for (const t of timers) clearTimeout(t);
    clearTimeout(idle);
  };
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(
      () => stream.destroy(fail(new UpstreamTransferError(what, `no data for ${limits.idleMs} ms`))),
      limits.idleMs,
    );
    idle.unref();
  };

  const stream: Transform = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      windowBytes += chunk.length;
      if (expected.size !== undefined && total > expected.size) {
        done(fail(new TooLargeError('NAR file', total, expected.size)));
        return;
      }
      hash?.update(chunk);
      armIdle();
      held.push(chunk);
      heldBytes += chunk.length;
      while (held.length > 1 && heldBytes - held[0]!.length >= limits.holdBackBytes) {
        const first = held.shift()!;
        heldBytes -= first.length;
        const out = pass(first);
        if (out !== undefined) stream.push(out);
      }
      done();
    },
    flush(done) {
      stop();
      if (expected.size !== undefined && total !== expected.size) {
        done(fail(new UpstreamTransferError(what, `ended after ${total} of ${expected.size} bytes`)));
        return;
      }
      if (hash !== undefined) {
        const digest = hash.digest();
        for (const { name, sha256 } of expected.digests)
          if (!digest.equals(sha256)) {
            done(fail(new MalformedError('NAR file', `${what}: its SHA-256 is not the narinfo's ${name}`)));
            return;
          }
      }
      for (const chunk of held.splice(0)) {
        const out = pass(chunk);
        if (out !== undefined) stream.push(out);
      }
      done();
    },
    destroy(err, done) {
      stop();
      done(err);
    },
  });

  const deadline = setTimeout(
    () =>
      stream.destroy(fail(new UpstreamTransferError(what, `not complete within ${limits.deadlineMs} ms`))),
    limits.deadlineMs,
  );
  const minimum = (limits.minBytesPerSecond * limits.rateWindowMs) / 1000;
  const rate = setInterval(() => {
    // Data waiting for the client: the client is the bottleneck, not the upstream.
    const clientBehind = stream.readableLength > 0 || stream.writableNeedDrain;
    if (windowBytes < minimum && !clientBehind)
      stream.destroy(
        fail(
          new UpstreamTransferError(
            what,
            `${windowBytes} bytes in ${limits.rateWindowMs} ms, below the minimum of ${limits.minBytesPerSecond} bytes/s`,
          ),
        ),
      );
    windowBytes = 0;
  }, limits.rateWindowMs);
  for (const t of [deadline, rate]) {
    t.unref();
    timers.push(t);
  }
  armIdle();
  return stream;
}
