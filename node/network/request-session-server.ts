/**
 * The server's side of a session (docs/PROTOCOL.md "Tile exchange sessions"; the tile exchange's
 * `/trustix/tiles/1.2.0`, node/network/tile-exchange.ts, and the lookups' `/trustix/lookup/1.1.0`,
 * node/network/lookup-service.ts; the client's side is node/network/request-session.ts): requests are
 * read while fewer than `depth` answers are owed, answered in parallel and written in the order they came.
 *
 * The session ends when the client ends its side between requests, after `sessionIdleMs` with no
 * request asked nor answer owed, or at a request over `maxRequestBytes` (answered by `overLength`: the
 * stream is out of step after it); the answers owed are then written and the stream closed by both ends.
 * The first request must come within `requestTimeoutMs`, each answer be written within
 * `responseTimeoutMs`; bytes a client sends ahead of what is read are capped (`maxBufferBytes`). Any
 * failure throws (the caller aborts the stream); every answer made gives its bytes back (`release`) once
 * written or dropped.
 */
import type { Stream } from '@libp2p/interface';
import { byteStream } from '@libp2p/utils';
import { endStream, framed, isOverLength, readFramed } from './framed-message.ts';

/** What a session asks of its protocol's server, and its limits. */
export interface SessionHandler {
  readonly requestTimeoutMs: number;
  readonly sessionIdleMs: number;
  readonly responseTimeoutMs: number;
  readonly maxRequestBytes: number;
  /** Answers owed at most: requests are not read beyond (the protocol's SESSION_DEPTH). */
  readonly depth: number;
  /** Bytes the client may send ahead of what is read (the protocol's REQUEST_BUFFER_BYTES). */
  readonly maxBufferBytes: number;
  /** The answer message to a request, its bytes already counted in flight. */
  answer(request: Uint8Array): Promise<Uint8Array>;
  /** The answer to a request over maxRequestBytes (status 2), counted in flight like the others. */
  overLength(): Uint8Array;
  /** Gives back the bytes of an answer written or dropped. */
  release(bytes: number): void;
}

export async function serveRequestSession(stream: Stream, handler: SessionHandler): Promise<void> {
  const bytes = byteStream(stream, { maxBufferSize: handler.maxBufferBytes });
  const owed: Promise<Uint8Array>[] = [];
  let reading = true;
  let failed = false;
  let wakeWriter: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  // Idle: armed whenever no answer is owed, it stops the read waiting for the next request.
  const idle = new AbortController();
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const armIdle = () => {
    clearTimeout(idleTimer);
    if (owed.length === 0) idleTimer = setTimeout(() => idle.abort(), handler.sessionIdleMs);
  };
  const owe = (answer: Promise<Uint8Array>) => {
    answer.catch(() => undefined); // awaited by the writer; a failure must not go unhandled meanwhile
    clearTimeout(idleTimer);
    owed.push(answer);
    wakeWriter?.();
  };

  const reader = (async () => {
    try {
      for (let first = true; !failed; first = false) {
        while (owed.length >= handler.depth && !failed)
          await new Promise<void>((resolve) => {
            wakeReader = resolve;
          });
        if (failed) return;
        let request: Uint8Array | undefined;
        try {
          const signal = first ? AbortSignal.timeout(handler.requestTimeoutMs) : idle.signal;
          request = await readFramed(bytes, handler.maxRequestBytes, { signal });
        } catch (err) {
          if (isOverLength(err)) {
            owe(Promise.resolve(handler.overLength()));
            return;
          }
          if (!first && idle.signal.aborted) return; // idle (a request it cut short is dropped too)
          throw err;
        }
        if (request === undefined) return; // the client ended its side
        owe(handler.answer(request));
      }
    } finally {
      reading = false;
      wakeWriter?.();
    }
  })();
  reader.catch(() => undefined); // awaited below, unless writing failed first

  try {
    for (;;) {
      const next = owed[0];
      if (next === undefined) {
        if (!reading) break;
        await new Promise<void>((resolve) => {
          wakeWriter = resolve;
        });
        continue;
      }
      const answer = await next;
      try {
        await bytes.write(framed(answer), { signal: AbortSignal.timeout(handler.responseTimeoutMs) });
      } finally {
        owed.shift();
        handler.release(answer.length);
      }
      armIdle();
      wakeReader?.();
    }
    await reader;
    await endStream(stream, AbortSignal.timeout(handler.responseTimeoutMs));
  } catch (err) {
    failed = true;
    wakeReader?.();
    idle.abort();
    // What was made and not written gives its bytes back, once made.
    for (const answer of owed.splice(0))
      answer.then(
        (a) => handler.release(a.length),
        () => undefined,
      );
    throw err;
  }
}
