/**
 * The client's side of a session (docs/PROTOCOL.md "Tile exchange sessions"; the tile exchange's
 * `/trustix/tiles/1.2.0` and the lookups' `/trustix/lookup/1.1.0`): one stream to a peer carries requests
 * one after another, without waiting for answers, and the answers come back in the order asked. A
 * request costs no stream opening and no protocol negotiation (a round trip each under libp2p 3, which
 * negotiates every new stream in full), so the requests a sync keeps in flight keep the link busy
 * instead of waiting in turn for round trips, and a light node's lookup takes one round trip, not two.
 *
 * Bounded: each answer is refused from its length prefix past the cap of its own request; bytes the
 * peer sends ahead of our reads are capped (`maxBufferBytes`); each answer must come whole within
 * `answerTimeoutMs` of its turn (the answer before it read, or its request sent), else the session
 * fails with DeadlineExceededError for every request in it (the answers behind are as late). Timing an
 * answer from its turn rather than from its request lets a slow link carry a deep queue: what is
 * measured is the peer's pace, not the queue's length. A request whose caller gave up stays in the
 * queue and its answer, when it comes, is read and dropped: the order is the protocol.
 * A session idle for `idleMs` closes its side; the server then closes its own.
 */
import type { Stream } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { byteStream } from '@libp2p/utils';
import { DeadlineExceededError } from '../errors.ts';
import { framed, readFramed } from './framed-message.ts';

const log = logger('trustix:session');

export interface RequestSessionInit {
  /** Close the session once no request has been pending for this long, in ms. */
  readonly idleMs: number;
  /** Time for the answer whose turn it is to come whole, in ms. */
  readonly answerTimeoutMs: number;
  /** Time for our side's close (its bytes written), in ms; then the stream is aborted. */
  readonly closeTimeoutMs: number;
  /** Bytes the peer may send ahead of our reads (one answer being read and the next arriving). */
  readonly maxBufferBytes: number;
}

/** A request in the queue: its answer's cap, and where the answer (status byte + body) goes. */
interface Pending {
  readonly maxBytes: number;
  /** The caller gave up: the answer is read and dropped. */
  abandoned: boolean;
  resolve(answer: Uint8Array): void;
  reject(err: Error): void;
}

export class RequestSession {
  readonly stream: Stream;
  private readonly init: RequestSessionInit;
  private readonly bytes: ReturnType<typeof byteStream<Stream>>;
  private readonly pending: Pending[] = [];
  /** Requests are written one after another, in the order they were queued. */
  private writing: Promise<void> = Promise.resolve();
  /** Why the session can take no more requests (closed, failed); undefined while it can. */
  private ended: Error | undefined;
  private wakeReader: (() => void) | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private reading: Promise<void> | undefined;

  constructor(stream: Stream, init: RequestSessionInit) {
    this.stream = stream;
    this.init = init;
    this.bytes = byteStream(stream, { maxBufferSize: init.maxBufferBytes });
  }

  /** Starts reading answers. */
  start(): void {
    this.reading ??= this.readAnswers();
    this.stream.addEventListener('close', () => this.fail(new Error('the session stream closed')), {
      once: true,
    });
    // The server ended the session (idle, stopping): no more requests; ours is closed once none is owed.
    this.stream.addEventListener('remoteCloseWrite', () => this.endIfIdle('the peer ended the session'), {
      once: true,
    });
    this.armIdle();
  }

  /** Whether a request may be queued: not ended, and the stream still open. */
  get open(): boolean {
    return this.ended === undefined && this.stream.status === 'open';
  }

  /**
   * Sends `request` and resolves its answer message (status byte + body), at most `maxBytes` long.
   * `signal` abandons the request (this promise rejects with its reason; the session goes on).
   */
  exchange(request: Uint8Array, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
    if (this.ended !== undefined) return Promise.reject(this.ended);
    const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
    const entry: Pending = { maxBytes, abandoned: false, resolve, reject };
    const onAbort = () => {
      entry.abandoned = true;
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    const settle = () => signal.removeEventListener('abort', onAbort);
    promise.then(settle, settle);
    this.pending.push(entry);
    clearTimeout(this.idleTimer);
    this.wakeReader?.();
    const message = framed(request);
    // No time limit of its own: a write the peer stalls leaves the answer ahead late for its turn,
    // which fails the session (and so the write).
    this.writing = this.writing
      .then(() => this.bytes.write(message))
      .catch((err: unknown) => this.fail(err as Error));
    return promise;
  }

  private fail(err: Error): void {
    clearTimeout(this.idleTimer);
    if (this.ended === undefined) this.ended = err;
    for (const p of this.pending.splice(0)) p.reject(err);
    this.wakeReader?.();
    if (this.stream.status === 'open') this.stream.abort(err);
  }

  /** Reads the answers in order, each capped by its request, until the session ends. */
  private async readAnswers(): Promise<void> {
    try {
      for (;;) {
        const head = this.pending[0];
        if (head === undefined) {
          if (this.ended !== undefined) return;
          await new Promise<void>((resolve) => {
            this.wakeReader = resolve;
          });
          this.wakeReader = undefined;
          continue;
        }
        const answer = await this.readAnswer(head.maxBytes);
        if (this.pending[0] !== head) return; // failed meanwhile: the requests were rejected
        if (answer === undefined) throw new Error('the peer ended the session with answers owed');
        this.pending.shift();
        if (!head.abandoned) head.resolve(answer);
        this.armIdle();
      }
    } catch (err) {
      log('session with %s failed: %s', this.stream.id, (err as Error).message);
      this.fail(err as Error);
    }
  }

  /** The next answer, within answerTimeoutMs (else DeadlineExceededError). */
  private async readAnswer(maxBytes: number): Promise<Uint8Array | undefined> {
    const signal = AbortSignal.timeout(this.init.answerTimeoutMs);
    try {
      return await readFramed(this.bytes, maxBytes, { signal });
    } catch (err) {
      if (!signal.aborted) throw err;
      throw new DeadlineExceededError(
        `no complete answer within ${this.init.answerTimeoutMs} ms of its turn`,
      );
    }
  }

  /** Once nothing is pending for idleMs: close our side (the server then ends the session). */
  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.pending.length > 0 || this.ended !== undefined) return;
    this.idleTimer = setTimeout(() => this.endIfIdle('the session closed, idle'), this.init.idleMs);
    this.idleTimer.unref?.();
  }

  /**
   * No more requests, and our side closed if none is owed (else the reader meets the end and fails the
   * requests owed).
   */
  private endIfIdle(why: string): void {
    this.ended ??= new Error(why);
    clearTimeout(this.idleTimer);
    if (this.pending.length > 0) return;
    this.wakeReader?.();
    if (this.stream.writeStatus !== 'writable') return;
    this.stream.close({ signal: AbortSignal.timeout(this.init.closeTimeoutMs) }).catch((err: unknown) => {
      this.stream.abort(err as Error);
    });
  }
}
