/**
 * Length-prefixed messages on a byte stream, framed as libp2p's lpStream frames them (an unsigned varint
 * length, then the bytes), but read one at a time with a cap of their own and with a clean end told from
 * a cut: a tile exchange session (docs/PROTOCOL.md, "Tile exchange sessions") caps each answer by what
 * its request asked for, and a server ends a session when the client's side ends between requests.
 *
 * Errors carry libp2p's names (InvalidDataLengthError, InvalidDataLengthLengthError, UnexpectedEOFError),
 * which the callers already map: over the cap, a length prefix too long, a message cut short. And the
 * end of every exchange of such messages: both sides closed, within a time limit (endStream).
 */
import type { AbortOptions, Stream } from '@libp2p/interface';
import {
  type ByteStream,
  InvalidDataLengthError,
  InvalidDataLengthLengthError,
  UnexpectedEOFError,
} from '@libp2p/utils';

// biome-ignore lint/suspicious/noExplicitAny: ByteStream's parameter is the stream type, unused here.
type Bytes = ByteStream<any>;

/** Bytes of the varint that encodes `n`. */
function varintLength(n: number): number {
  let bytes = 1;
  for (let rest = Math.floor(n / 128); rest > 0; rest = Math.floor(rest / 128)) bytes++;
  return bytes;
}

/** `data` after its varint length prefix, in one buffer: one write. */
export function framed(data: Uint8Array): Uint8Array {
  const prefixBytes = varintLength(data.byteLength);
  const message = new Uint8Array(prefixBytes + data.byteLength);
  let n = data.byteLength;
  for (let i = 0; i < prefixBytes; i++) {
    message[i] = (n % 128) | (i < prefixBytes - 1 ? 0x80 : 0);
    n = Math.floor(n / 128);
  }
  message.set(data, prefixBytes);
  return message;
}

/**
 * The next message, at most `maxLength` bytes (refused from its length prefix, before its body is read),
 * or undefined when the stream ended cleanly before a message began. Reading one byte at a time costs
 * nothing extra: the bytes are already buffered (byteStream), and a prefix is 1 to 4 of them.
 */
export async function readFramed(
  bytes: Bytes,
  maxLength: number,
  options: AbortOptions = {},
): Promise<Uint8Array | undefined> {
  const maxPrefix = varintLength(maxLength);
  let length = 0;
  for (let i = 0; ; i++) {
    let chunk: Awaited<ReturnType<Bytes['read']>>;
    try {
      chunk = await bytes.read({ ...options, bytes: 1 });
    } catch (err) {
      if (i === 0 && (err as Error | undefined)?.name === 'UnexpectedEOFError') return undefined;
      throw err;
    }
    if (chunk === null) {
      if (i === 0) return undefined;
      throw new UnexpectedEOFError('the stream ended inside a length prefix');
    }
    if (i >= maxPrefix)
      throw new InvalidDataLengthLengthError(`a length prefix over ${maxPrefix} bytes (cap ${maxLength})`);
    const byte = chunk.get(0);
    length += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) break;
  }
  if (length > maxLength) throw new InvalidDataLengthError(`a message of ${length} bytes, over ${maxLength}`);
  if (length === 0) return new Uint8Array(0);
  const body = await bytes.read({ ...options, bytes: length });
  if (body === null || body.byteLength !== length)
    throw new UnexpectedEOFError(`the stream ended inside a message of ${length} bytes`);
  // One piece: a view of it, no copy (the caller copies what it keeps); several: joined.
  return body.subarray();
}

/** A length prefix over the cap (libp2p's lpStream errors for the length or its varint). */
export function isOverLength(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError';
}

/**
 * Closes our end of `stream` and waits until the remote has closed theirs (the stream is then gone
 * from the connection), rejecting with `signal`'s reason if that takes too long. The caller aborts.
 */
export async function endStream(stream: Stream, signal: AbortSignal): Promise<void> {
  await stream.close({ signal });
  if (stream.status !== 'open' && stream.status !== 'closing') return;
  signal.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const onClose = () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      stream.removeEventListener('close', onClose);
      reject(signal.reason);
    };
    stream.addEventListener('close', onClose, { once: true });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
