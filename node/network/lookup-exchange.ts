/**
 * One lookup exchange with one peer: a slot and a way to it (node/network/lookup-connections.ts: its
 * session, or a stream of its own), the request, and the answer parsed and verified against the root; what the answer teaches goes back to
 * the candidates (the peer verified, or lacks the log) or bans the peer as a source of the log. Apart from
 * the fan-out, which only sees the Answer: this is the wire and its verification.
 */
import type { PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { LOOKUP_STATUS, MAX_LOOKUP_RESPONSE_BYTES } from '../../protocol/constants.ts';
import { MalformedError, TooLargeError, VerificationError } from '../../protocol/errors.ts';
import { type LookupRequest, parseLookupResponse, verifyLookupEntries } from '../../protocol/lookup.ts';
import type { Hash } from '../../protocol/merkle.ts';
import type { LookupCandidates } from './lookup-candidates.ts';
import type { LookupClientComponents, LookupClientInit } from './lookup-client-init.ts';
import type { LookupChannel, LookupConnections } from './lookup-connections.ts';
import type { Answer } from './lookup-result.ts';
import { RequestSession } from './request-session.ts';
import { type ExchangeResult, exchangeInSession, exchangeOnStream } from './stream-exchange.ts';

const log = logger('trustix:lookup');

export class LookupExchange {
  private readonly components: LookupClientComponents;
  private readonly init: Required<LookupClientInit>;
  private readonly connections: LookupConnections;
  private readonly candidates: LookupCandidates;

  constructor(
    components: LookupClientComponents,
    init: Required<LookupClientInit>,
    connections: LookupConnections,
    candidates: LookupCandidates,
  ) {
    this.components = components;
    this.init = init;
    this.connections = connections;
    this.candidates = candidates;
  }

  /** One exchange with one peer. Never throws; bans a peer that sent bad bytes. */
  async ask(
    peerId: PeerId,
    request: LookupRequest,
    bytes: Uint8Array,
    root: Hash,
    cancel: AbortSignal,
  ): Promise<Answer> {
    const peer = peerId.toString();
    const { logId } = request;
    let response: Uint8Array | undefined;
    let slot = false;
    try {
      // Waiting for a slot to the peer is not the peer's time: the limit starts with the exchange.
      await this.connections.acquire(peer, cancel);
      slot = true;
      const signal = AbortSignal.any([cancel, AbortSignal.timeout(this.init.timeoutMs)]);
      // Once more on a new connection when the one we used closed under us (libp2p prunes duplicate
      // connections made by concurrent dials): that is no answer from the peer, good or bad.
      for (let attempt = 0; response === undefined; attempt++) {
        const connection = await this.connections.connect(peerId, signal);
        const outcome = await exchange(this.connections.channel(peerId, signal), bytes, signal);
        if (outcome.response !== undefined) response = outcome.response;
        else if (cancel.aborted) return { kind: 'failed', peer };
        else if (outcome.blame !== undefined) return this.blame(peer, logId, outcome.blame);
        else if (connection.status === 'open' || attempt > 0) {
          log('lookup of %s in %s from %s failed: %s', request.hashPart, logId, peer, outcome.error);
          const late = /^(TimeoutError|DeadlineExceededError)/.test(outcome.error ?? '');
          return { kind: 'failed', peer, again: late };
        }
      }
    } catch (err) {
      if (!cancel.aborted)
        log('lookup of %s in %s from %s failed: %s', request.hashPart, logId, peer, (err as Error)?.message);
      return { kind: 'failed', peer };
    } finally {
      if (slot) this.connections.release(peer);
    }
    try {
      const answer = parseLookupResponse(response!, request);
      if (answer.status === LOOKUP_STATUS.tooMany) return { kind: 'tooMany', peer };
      if (answer.status !== LOOKUP_STATUS.ok) {
        log('%s answered status %d for %s', peer, answer.status, logId);
        if (answer.status === LOOKUP_STATUS.notHeld) this.candidates.notHeld(logId, peer);
        return { kind: 'failed', peer, again: answer.status === LOOKUP_STATUS.busy };
      }
      const entries = verifyLookupEntries(request, root, answer.entries, this.init.storeDir);
      this.candidates.verified(logId, peer);
      return { kind: 'entries', peer, entries };
    } catch (err) {
      if (err instanceof MalformedError || err instanceof VerificationError || err instanceof TooLargeError)
        return this.blame(peer, logId, err.message);
      throw err;
    }
  }

  private blame(peer: string, logId: string, reason: string): Answer {
    log('banning %s as a lookup source of %s: %s', peer, logId, reason);
    this.components.bans.banForLog(peer, logId, `lookup: ${reason}`);
    return { kind: 'failed', peer };
  }
}

/**
 * One request on `channel` (the peer's session, or a stream of its own): a stream that could not open
 * (the connection closed under us, a reset) is an error like a failed exchange.
 */
async function exchange(
  channel: Promise<LookupChannel>,
  bytes: Uint8Array,
  signal: AbortSignal,
): Promise<ExchangeResult> {
  let opened: LookupChannel;
  try {
    opened = await channel;
  } catch (err) {
    return { error: `${(err as Error | undefined)?.name}: ${(err as Error | undefined)?.message}` };
  }
  const { connection, via } = opened;
  return via instanceof RequestSession
    ? exchangeInSession(via, bytes, MAX_LOOKUP_RESPONSE_BYTES, signal)
    : exchangeOnStream(via, connection, bytes, MAX_LOOKUP_RESPONSE_BYTES, signal);
}
