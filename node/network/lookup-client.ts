/**
 * The lookup client of a light node (docs/PROTOCOL.md "Lookups"; node/network/lookup-service.ts is the
 * server): a log's entries for one store path, with inclusion proofs checked against the light log's
 * verified checkpoint, from the peers that hold the log.
 *
 * Candidates: the peers that recently told us of the log's checkpoints (`hint`), then its DHT providers
 * (as node/network/provider-list.ts keeps them: only a log's first lookup waits for the DHT), never
 * a peer banned for the log nor ourselves. One is asked first; a second once the first answered "none",
 * failed, or has not answered within twice its usual answer time (`hedgeFactor`; at least `hedgeMs`,
 * node/network/answer-times.ts; at most `parallel`, default 2, at once). The first answer
 * with entries that all verify wins and any other request is aborted; an answer of "none" waits for a
 * second one (a provider can hide entries, never invent them: two must agree to hide). Asking the second
 * only when needed halves the exchanges of a path that is found (docs/ARCHITECTURE.md, "Light logs").
 * A peer whose answer fails verification, is malformed, truncated or over MAX_LOOKUP_RESPONSE_BYTES is
 * banned as a source of that log (node/network/peer-bans.ts); one that is busy, does not hold the tree,
 * times out or is unreachable is just passed over. With no candidate left the result is `unavailable`:
 * the caller treats the log as silent for that path (docs/SECURITY.md).
 *
 * Verified answers are cached by (log, tree size, path) in an LRU bounded by bytes (`cacheBytes`): a
 * new verified checkpoint makes new keys, and the old ones age out. Concurrent lookups of one key share
 * one exchange.
 *
 * This module holds the cache and the sharing of lookups and puts the parts together: the choice of
 * candidates (node/network/lookup-candidates.ts), the fan-out over them (node/network/lookup-fan-out.ts),
 * the exchange with one peer (node/network/lookup-exchange.ts) and the connections it uses
 * (node/network/lookup-connections.ts).
 */
import { LRUCache } from 'lru-cache';
import { encodeLookupRequest, type LookupRequest } from '../../protocol/lookup.ts';
import type { Hash } from '../../protocol/merkle.ts';
import { AnswerTimes } from './answer-times.ts';
import { LookupCandidates } from './lookup-candidates.ts';
import {
  LOOKUP_CLIENT_DEFAULTS,
  type LookupClientComponents,
  type LookupClientInit,
} from './lookup-client-init.ts';
import { LookupConnections } from './lookup-connections.ts';
import { LookupExchange } from './lookup-exchange.ts';
import { fanOut } from './lookup-fan-out.ts';
import type { LookupResult, VerifiedHead } from './lookup-result.ts';

export class LookupClient {
  private readonly init: Required<LookupClientInit>;
  private readonly cache: LRUCache<string, LookupResult & { kind: 'entries' | 'tooMany' }>;
  private readonly inflight = new Map<string, Promise<LookupResult>>();
  private readonly candidates: LookupCandidates;
  private readonly exchange: LookupExchange;
  private readonly times = new AnswerTimes();
  /** Exchanges made (not answered from the cache), for tests and benchmarks. */
  exchanges = 0;

  constructor(components: LookupClientComponents, init: LookupClientInit = {}) {
    this.init = { ...LOOKUP_CLIENT_DEFAULTS, ...init };
    this.cache = new LRUCache({
      maxSize: this.init.cacheBytes,
      sizeCalculation: (r) =>
        128 + (r.kind === 'entries' ? r.entries.reduce((n, e) => n + 64 + 2 * e.entry.length, 0) : 0),
    });
    this.candidates = new LookupCandidates(components, this.init);
    this.exchange = new LookupExchange(
      components,
      this.init,
      new LookupConnections(components, this.init),
      this.candidates,
    );
  }

  /** A peer that holds (or told us of) the log: asked early. */
  hint(logId: string, peer: string): void {
    this.candidates.hint(logId, peer);
  }

  /** Bytes and answers the cache holds. */
  cacheSize(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.calculatedSize };
  }

  /** Forgets what is known of a log (unfollowed). */
  forget(logId: string): void {
    this.candidates.forget(logId);
  }

  /** The log's entries for the path with `hashPart` in the tree `head`, verified. */
  lookup(logId: string, hashPart: string, head: VerifiedHead): Promise<LookupResult> {
    const request: LookupRequest = { logId, hashPart, size: head.size };
    const bytes = encodeLookupRequest(request);
    const key = `${logId}/${head.size}/${hashPart}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const running = this.inflight.get(key);
    if (running !== undefined) return running;
    const work = this.ask(request, bytes, head.root)
      .then((result) => {
        if (result.kind !== 'unavailable') this.cache.set(key, result);
        return result;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, work);
    return work;
  }

  /** Asks the log's candidates (lookup-candidates.ts) through the fan-out (lookup-fan-out.ts). */
  private ask(request: LookupRequest, bytes: Uint8Array, root: Hash): Promise<LookupResult> {
    return this.candidates.select(request.logId).then((candidates) => {
      if (candidates.length === 0) return { kind: 'unavailable', reason: 'no provider known' } as const;
      // The first candidate is late once it passes its own pace (answer-times.ts), and never before hedgeMs.
      const pace = this.times.expected(candidates[0]!.toString()) ?? 0;
      const hedgeMs = Math.min(
        Math.max(this.init.hedgeMs, this.init.hedgeFactor * pace),
        this.init.timeoutMs,
      );
      return fanOut(
        candidates,
        (peer, cancel) => {
          this.exchanges++;
          const started = Date.now();
          return this.exchange.ask(peer, request, bytes, root, cancel).then((answer) => {
            if (answer.kind !== 'failed') this.times.add(answer.peer, Date.now() - started);
            return answer;
          });
        },
        { ...this.init, hedgeMs },
      );
    });
  }
}
