/**
 * One request and its answer, each a length-prefixed message: on a new stream of a connection, what the
 * lookup (1.0.0) and catch-up clients send, or on a session (the lookups' 1.1.0,
 * node/network/request-session.ts) (docs/PROTOCOL.md). The answer's bytes, or what went wrong: `blame`
 * when the peer sent bytes no honest server sends (an answer over the cap, or a stream it ended inside
 * an answer), else `error` (a reset, a lost connection, a timeout: nobody's fault for sure).
 */
import type { Connection, Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { endStream, isOverLength } from './framed-message.ts';
import type { RequestSession } from './request-session.ts';

export interface ExchangeResult {
  readonly response?: Uint8Array;
  readonly blame?: string;
  readonly error?: string;
}

export async function exchangeOnce(
  connection: Connection,
  protocol: string,
  request: Uint8Array,
  maxResponseBytes: number,
  signal: AbortSignal,
): Promise<ExchangeResult> {
  let stream: Stream;
  try {
    // Negotiated in full, a round trip before the request (libp2p 3 ignores negotiateFully: false).
    stream = await connection.newStream(protocol, { signal, runOnLimitedConnection: true });
  } catch (err) {
    return { error: described(err) };
  }
  return exchangeOnStream(stream, connection, request, maxResponseBytes, signal);
}

/** The same on `stream`, a new stream of `connection` already negotiated. */
export async function exchangeOnStream(
  stream: Stream,
  connection: Connection,
  request: Uint8Array,
  maxResponseBytes: number,
  signal: AbortSignal,
): Promise<ExchangeResult> {
  try {
    const lp = lpStream(stream, { maxDataLength: maxResponseBytes, maxBufferSize: maxResponseBytes + 8 });
    await lp.write(request, { signal });
    await stream.close({ signal });
    const response = (await lp.read({ signal })).subarray();
    await endStream(stream, signal);
    return { response };
  } catch (err) {
    const name = (err as Error | undefined)?.name;
    const status = stream.status;
    stream.abort(err as Error);
    if (
      name === 'InvalidDataLengthError' ||
      name === 'InvalidDataLengthLengthError' ||
      name === 'StreamBufferError'
    )
      return { blame: `an answer over ${maxResponseBytes} bytes` };
    // The peer closed its side inside an answer (not a reset, not a lost connection): truncated.
    if (
      name === 'UnexpectedEOFError' &&
      connection.status === 'open' &&
      status !== 'reset' &&
      status !== 'aborted'
    )
      return { blame: 'a truncated answer (the stream ended inside it)' };
    return { error: described(err) };
  }
}

/** The same as one request of `session`: its answer in turn, or what went wrong. */
export async function exchangeInSession(
  session: RequestSession,
  request: Uint8Array,
  maxResponseBytes: number,
  signal: AbortSignal,
): Promise<ExchangeResult> {
  try {
    return { response: await session.exchange(request, maxResponseBytes, signal) };
  } catch (err) {
    if (isOverLength(err)) return { blame: `an answer over ${maxResponseBytes} bytes` };
    return { error: described(err) };
  }
}

function described(err: unknown): string {
  return `${(err as Error | undefined)?.name}: ${(err as Error | undefined)?.message}`;
}
