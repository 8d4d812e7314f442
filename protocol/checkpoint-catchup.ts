/**
 * Checkpoint catch-up (`/trustix/checkpoints/1.0.0`, docs/PROTOCOL.md "Checkpoint catch-up"): a node asks
 * a peer for the newest checkpoints it knows of some logs. One length-prefixed message each way.
 *
 * Request, 3 + 32 n bytes:
 *
 *     u8        version      1
 *     u16       n            1 .. MAX_CATCHUP_LOGS, big-endian
 *     n times:
 *       [32]    log ID       the log ID's 32 bytes, each log once
 *
 * Response: a status byte (CATCHUP_STATUS), and after `ok` (0) only:
 *
 *     u16       count        0 .. MAX_CATCHUP_CHECKPOINTS
 *     count times:
 *       u16     length       1 .. MAX_CHECKPOINT_MESSAGE_BYTES
 *       [length] message     a checkpoint gossip message (protocol/gossip-message.ts) of a log asked for
 *
 * At most two messages per log asked for; nothing may follow; an answer is at most
 * MAX_CATCHUP_RESPONSE_BYTES. Parsing is strict (MalformedError) but checks no signature: every message
 * then goes to the checkpoint monitor, as if it came by gossip, which verifies it or refuses it.
 */
import {
  CATCHUP_STATUS,
  HASH_SIZE,
  MAX_CATCHUP_CHECKPOINTS,
  MAX_CATCHUP_LOGS,
  MAX_CATCHUP_RESPONSE_BYTES,
} from './constants.ts';
import { MalformedError, TooLargeError } from './errors.ts';
import { MAX_CHECKPOINT_MESSAGE_BYTES, MAX_VKEY_BYTES } from './gossip-message.ts';
import { logIdOf } from './keys.ts';
import { boundedText } from './utf8.ts';
import { parseVkey } from './vkey.ts';

export const CATCHUP_VERSION = 1;
/** Most checkpoint messages one log may have in an answer. */
export const MAX_CATCHUP_PER_LOG = MAX_CATCHUP_CHECKPOINTS / MAX_CATCHUP_LOGS;
const LOG_ID = /^[0-9a-f]{64}$/;
const REQUEST = 'catch-up request';
const ANSWER = 'catch-up answer';

export type CatchupStatus = (typeof CATCHUP_STATUS)[keyof typeof CATCHUP_STATUS];

export type CatchupResponse =
  | { readonly status: typeof CATCHUP_STATUS.ok; readonly messages: readonly Uint8Array[] }
  | { readonly status: Exclude<CatchupStatus, typeof CATCHUP_STATUS.ok> };

/** The request for `logIds` (64 lowercase hex each, distinct, 1 to MAX_CATCHUP_LOGS of them). */
export function encodeCatchupRequest(logIds: readonly string[]): Uint8Array {
  if (logIds.length < 1 || logIds.length > MAX_CATCHUP_LOGS)
    throw new MalformedError(REQUEST, `1 to ${MAX_CATCHUP_LOGS} log IDs, got ${logIds.length}`);
  if (new Set(logIds).size !== logIds.length) throw new MalformedError(REQUEST, 'a log ID twice');
  const out = Buffer.alloc(3 + HASH_SIZE * logIds.length);
  out[0] = CATCHUP_VERSION;
  out.writeUInt16BE(logIds.length, 1);
  logIds.forEach((id, i) => {
    if (!LOG_ID.test(id)) throw new MalformedError(REQUEST, 'log ID must be 64 lowercase hex');
    out.write(id, 3 + HASH_SIZE * i, 'hex');
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** The log IDs a request names, in its order. */
export function parseCatchupRequest(bytes: Uint8Array): string[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < 3) throw new MalformedError(REQUEST, 'shorter than its header');
  if (b[0] !== CATCHUP_VERSION) throw new MalformedError(REQUEST, `unknown version ${b[0]}`);
  const n = b.readUInt16BE(1);
  if (n < 1 || n > MAX_CATCHUP_LOGS) throw new MalformedError(REQUEST, `${n} log IDs`);
  if (b.length !== 3 + HASH_SIZE * n)
    throw new MalformedError(REQUEST, `expected ${3 + HASH_SIZE * n} bytes, got ${b.length}`);
  const ids = Array.from({ length: n }, (_, i) =>
    b.toString('hex', 3 + HASH_SIZE * i, 3 + HASH_SIZE * (i + 1)),
  );
  if (new Set(ids).size !== n) throw new MalformedError(REQUEST, 'a log ID twice');
  return ids;
}

/**
 * An answer: `ok` with as many of `messages` as fit in MAX_CATCHUP_RESPONSE_BYTES and
 * MAX_CATCHUP_CHECKPOINTS (the rest are left out: the asker learns them from gossip or its next ask),
 * or another status alone.
 */
export function encodeCatchupResponse(response: CatchupResponse): Uint8Array {
  if (response.status !== CATCHUP_STATUS.ok) return Uint8Array.of(response.status);
  const parts: Buffer[] = [];
  let bytes = 3;
  for (const m of response.messages) {
    if (m.length === 0 || m.length > MAX_CHECKPOINT_MESSAGE_BYTES)
      throw new MalformedError(ANSWER, `a message of ${m.length} bytes`);
    if (parts.length / 2 >= MAX_CATCHUP_CHECKPOINTS || bytes + 2 + m.length > MAX_CATCHUP_RESPONSE_BYTES)
      break;
    const head = Buffer.alloc(2);
    head.writeUInt16BE(m.length);
    parts.push(head, Buffer.from(m.buffer, m.byteOffset, m.length));
    bytes += 2 + m.length;
  }
  const count = parts.length / 2;
  const out = Buffer.concat([Buffer.from([CATCHUP_STATUS.ok, count >> 8, count & 0xff]), ...parts]);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * Parses an answer to a request for `asked` strictly: sizes, counts, and that every message names (by
 * its vkey line) a log asked for, at most MAX_CATCHUP_PER_LOG times. The notes' signatures are not
 * checked here: the checkpoint monitor does that, as for gossip.
 */
export function parseCatchupResponse(bytes: Uint8Array, asked: ReadonlySet<string>): CatchupResponse {
  if (bytes.length > MAX_CATCHUP_RESPONSE_BYTES)
    throw new TooLargeError(ANSWER, bytes.length, MAX_CATCHUP_RESPONSE_BYTES);
  if (bytes.length === 0) throw new MalformedError(ANSWER, 'empty');
  const status = bytes[0]!;
  if (status !== CATCHUP_STATUS.ok) {
    if (!(Object.values(CATCHUP_STATUS) as number[]).includes(status))
      throw new MalformedError(ANSWER, `unknown status ${status}`);
    if (bytes.length !== 1) throw new MalformedError(ANSWER, 'a status other than ok carries no body');
    return { status: status as Exclude<CatchupStatus, 0> };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 3) throw new MalformedError(ANSWER, 'truncated');
  const count = view.getUint16(1);
  if (count > MAX_CATCHUP_CHECKPOINTS)
    throw new MalformedError(ANSWER, `${count} checkpoints exceed ${MAX_CATCHUP_CHECKPOINTS}`);
  const perLog = new Map<string, number>();
  const messages: Uint8Array[] = [];
  let pos = 3;
  for (let i = 0; i < count; i++) {
    if (pos + 2 > bytes.length) throw new MalformedError(ANSWER, 'truncated');
    const length = view.getUint16(pos);
    pos += 2;
    if (length === 0 || length > MAX_CHECKPOINT_MESSAGE_BYTES)
      throw new MalformedError(ANSWER, `a message of ${length} bytes`);
    if (pos + length > bytes.length) throw new MalformedError(ANSWER, 'truncated');
    const message = bytes.slice(pos, pos + length);
    pos += length;
    const logId = messageLogId(message);
    if (!asked.has(logId)) throw new MalformedError(ANSWER, `a checkpoint of log ${logId}, not asked for`);
    const n = (perLog.get(logId) ?? 0) + 1;
    if (n > MAX_CATCHUP_PER_LOG)
      throw new MalformedError(ANSWER, `more than ${MAX_CATCHUP_PER_LOG} checkpoints of ${logId}`);
    perLog.set(logId, n);
    messages.push(message);
  }
  if (pos !== bytes.length) throw new MalformedError(ANSWER, 'trailing bytes');
  return { status: CATCHUP_STATUS.ok, messages };
}

/** The log a checkpoint message names: the ID of its first line's vkey (canonical), nothing verified. */
function messageLogId(message: Uint8Array): string {
  const nl = message.subarray(0, MAX_VKEY_BYTES + 1).indexOf(0x0a);
  if (nl < 0) throw new MalformedError(ANSWER, 'a message without a vkey line');
  const line = boundedText(message.subarray(0, nl), ANSWER, MAX_VKEY_BYTES);
  if (parseVkey(line).vkey !== line) throw new MalformedError(ANSWER, 'a vkey not in canonical form');
  return logIdOf(line);
}
