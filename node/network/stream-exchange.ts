/**
 * One request and its answer on a new stream of a connection, each a length-prefixed message: what the
 * lookup and catch-up clients send (docs/PROTOCOL.md). The answer's bytes, or what went wrong: `blame`
 * when the peer sent bytes no honest server sends (an answer over the cap, or a stream it ended inside
 * an answer), else `error` (a reset, a lost connection, a timeout: nobody's fault for sure).
 */
import type { Connection } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { endStream } from './framed-message.ts';

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
  let stream: Awaited<ReturnType<Connection['newStream']>> | undefined;
  try {
    // Negotiated in full, a round trip before the request (libp2p 3 ignores negotiateFully: false).
    stream = await connection.newStream(protocol, { signal, runOnLimitedConnection: true });
    const lp = lpStream(stream, { maxDataLength: maxResponseBytes, maxBufferSize: maxResponseBytes + 8 });
    await lp.write(request, { signal });
    await stream.close({ signal });
    const response = (await lp.read({ signal })).subarray();
    await endStream(stream, signal);
    return { response };
  } catch (err) {
    const name = (err as Error | undefined)?.name;
    const status = stream?.status;
    stream?.abort(err as Error);
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
    return { error: `${name}: ${(err as Error | undefined)?.message}` };
  }
}
