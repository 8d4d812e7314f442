/**
 * The lookup client of a light node (docs/PROTOCOL.md "Lookups"; node/network/lookup-service.ts is the
 * server): a log's entries for one store path, with inclusion proofs checked against the light log's
 * verified checkpoint, from the peers that hold the log.
 *
 * Candidates: the peers that recently told us of the log's checkpoints (`hint`), then its DHT providers
 * (as node/network/provider-list.ts keeps them: only a log's first lookup waits for the DHT), never
 * a peer banned for the log nor ourselves. One is asked first; a second once the first answered "none",
 * failed, or has not answered within `hedgeMs` (at most `parallel`, default 2, at once). The first answer
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
 */
import type { Connection, Libp2p, PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { peerIdFromString } from '@libp2p/peer-id';
import { LRUCache } from 'lru-cache';
import {
  LOOKUP_PARALLEL,
  LOOKUP_PROTOCOL,
  LOOKUP_STATUS,
  LOOKUP_TIMEOUT_MS,
  MAX_LOOKUP_RESPONSE_BYTES,
} from '../../protocol/constants.ts';
import { MalformedError, TooLargeError, VerificationError } from '../../protocol/errors.ts';
import {
  encodeLookupRequest,
  type LookupRequest,
  parseLookupResponse,
  verifyLookupEntries,
} from '../../protocol/lookup.ts';
import type { Hash } from '../../protocol/merkle.ts';
import { DeadlineExceededError } from '../errors.ts';
import { shuffled } from '../sync/random-order.ts';
import type { PeerBans } from './peer-bans.ts';
import { exchangeOnce } from './stream-exchange.ts';

const log = logger('trustix:lookup');

/** A verified tree of a light log: the size asked at, and the root answers are checked against. */
export interface VerifiedHead {
  readonly size: number;
  readonly root: Hash;
}

/**
 * What a lookup found: `entries` (verified, possibly none: the providers asked hold no entry for the
 * path below the size), `tooMany` (a provider says the log holds more than MAX_LOOKUP_ENTRIES: it cannot
 * be checked, the log abstains), or `unavailable` (no provider answered).
 */
export type LookupResult =
  | {
      readonly kind: 'entries';
      readonly entries: readonly { index: number; entry: string }[];
      readonly from: readonly string[];
    }
  | { readonly kind: 'tooMany'; readonly from: readonly string[] }
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface LookupClientComponents {
  /** Opens connections: the libp2p node. */
  readonly dialer: Pick<Libp2p, 'dial'>;
  /** The log's DHT providers, kept and refreshed (node/network/provider-list.ts). */
  readonly providers: { findProviders(logId: string): Promise<PeerId[]> };
  /** Connected peers that speak the lookup protocol: asked last (a peer without the log says so). */
  connectedPeers?(): PeerId[];
  readonly peerId: PeerId;
  readonly bans: PeerBans;
}

export interface LookupClientInit {
  /** Time for one exchange with one provider (dial to closed stream), in ms. Default LOOKUP_TIMEOUT_MS (10,000). */
  readonly timeoutMs?: number;
  /** Providers asked at once, at most. Default LOOKUP_PARALLEL (2). */
  readonly parallel?: number;
  /**
   * Time the first provider asked has to answer before a second is asked too, in ms. Default 40 (a few
   * round trips on a LAN; an answer of "none" or a failure asks the second at once).
   */
  readonly hedgeMs?: number;
  /** Providers tried for one lookup, at most. Default 8. */
  readonly maxTried?: number;
  /**
   * Lookups in flight to one peer; more wait their turn. Default 8, well below the server's default cap on
   * inbound streams per connection (LOOKUP_MAX_STREAMS, 32), which libp2p enforces by resetting.
   */
  readonly maxPerPeer?: number;
  /** Pause before the providers that answered busy are asked once more, in ms. Default 250. */
  readonly busyBackoffMs?: number;
  /** How long a peer that said it does not hold a log is passed over for it, in ms. Default 30,000. */
  readonly notHeldMs?: number;
  /** Hinted peers remembered per log. Default 8. */
  readonly maxHints?: number;
  /** Bytes of verified answers cached. Default 8 MiB. */
  readonly cacheBytes?: number;
  /** The Nix store directory of the entries. Default '/nix/store'. */
  readonly storeDir?: string;
}

type Answer =
  | { kind: 'entries'; peer: string; entries: { index: number; entry: string }[] }
  | { kind: 'tooMany'; peer: string }
  /** `again`: busy or timed out, worth asking once more. */
  | { kind: 'failed'; peer: string; again?: boolean };

export class LookupClient {
  private readonly components: LookupClientComponents;
  private readonly init: Required<LookupClientInit>;
  private readonly cache: LRUCache<string, LookupResult & { kind: 'entries' | 'tooMany' }>;
  private readonly inflight = new Map<string, Promise<LookupResult>>();
  private readonly hints = new Map<string, string[]>();
  /** Per log: peers whose last answer verified, asked first. */
  private readonly good = new Map<string, string[]>();
  /** Per log: peers that said they do not hold it, and until when they are passed over. */
  private readonly lacking = new Map<string, Map<string, number>>();
  private readonly connections = new Map<string, Connection>();
  private readonly dialing = new Map<string, Promise<Connection>>();
  /** Per peer: lookups in flight, and those waiting for a slot. */
  private readonly slots = new Map<string, { active: number; waiting: (() => void)[] }>();
  /** Exchanges made (not answered from the cache), for tests and benchmarks. */
  exchanges = 0;

  constructor(components: LookupClientComponents, init: LookupClientInit = {}) {
    this.components = components;
    this.init = {
      timeoutMs: LOOKUP_TIMEOUT_MS,
      parallel: LOOKUP_PARALLEL,
      hedgeMs: 40,
      maxTried: 8,
      maxPerPeer: 8,
      maxHints: 8,
      notHeldMs: 30_000,
      busyBackoffMs: 250,
      cacheBytes: 8 * 1024 * 1024,
      storeDir: '/nix/store',
      ...init,
    };
    this.cache = new LRUCache({
      maxSize: this.init.cacheBytes,
      sizeCalculation: (r) =>
        128 + (r.kind === 'entries' ? r.entries.reduce((n, e) => n + 64 + 2 * e.entry.length, 0) : 0),
    });
  }

  /** A peer that holds (or told us of) the log: asked early. */
  hint(logId: string, peer: string): void {
    this.remember(this.hints, logId, peer);
  }

  private remember(map: Map<string, string[]>, logId: string, peer: string): void {
    if (peer === this.components.peerId.toString()) return;
    const list = (map.get(logId) ?? []).filter((p) => p !== peer);
    list.unshift(peer);
    map.set(logId, list.slice(0, this.init.maxHints));
  }

  /** Bytes and answers the cache holds. */
  cacheSize(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.calculatedSize };
  }

  /** Forgets what is known of a log (unfollowed). */
  forget(logId: string): void {
    this.hints.delete(logId);
    this.good.delete(logId);
    this.lacking.delete(logId);
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

  /**
   * Asks the candidates: one, then up to `parallel` at a time once the first answered or `hedgeMs`
   * passed (a slot freed by a failure goes to the next candidate at once). The first answer with entries
   * wins; answers of "none" are collected until `parallel` of them verified or no candidate is left, and
   * the union of what verified is the result. A candidate that was busy or timed out is asked once more,
   * after `busyBackoffMs`, once the others were.
   */
  private ask(request: LookupRequest, bytes: Uint8Array, root: Hash): Promise<LookupResult> {
    return this.candidates(request.logId).then((candidates) => {
      if (candidates.length === 0) return { kind: 'unavailable', reason: 'no provider known' } as const;
      const queue = candidates.map((peer) => ({ peer, again: false }));
      const asked = new Set<string>();
      const found: (Answer & { kind: 'entries' })[] = [];
      const tooMany: string[] = [];
      const controller = new AbortController();
      let inFlight = 0;
      let done = false;
      // Until the first answer (or hedgeMs), one request: most paths are settled by one provider.
      let hedged = false;
      let hedge: ReturnType<typeof setTimeout> | undefined;
      return new Promise<LookupResult>((resolve) => {
        const finish = () => {
          done = true;
          clearTimeout(hedge);
          controller.abort(new DeadlineExceededError('another provider answered'));
          if (found.length > 0) {
            // The union: a provider may leave entries out, never put one in (each one verified).
            const byIndex = new Map<number, { index: number; entry: string }>();
            for (const a of found) for (const e of a.entries) byIndex.set(e.index, e);
            const entries = [...byIndex.values()].sort((x, y) => x.index - y.index);
            resolve({ kind: 'entries', entries, from: found.map((a) => a.peer) });
          } else if (tooMany.length > 0) resolve({ kind: 'tooMany', from: tooMany });
          else
            resolve({
              kind: 'unavailable',
              reason: `none of ${candidates.length} provider(s) answered`,
            });
        };
        const launch = (peer: PeerId) => {
          inFlight++;
          void this.askOne(peer, request, bytes, root, controller.signal).then((answer) => {
            inFlight--;
            if (done) return;
            hedged = true;
            if (answer.kind === 'entries') {
              found.push(answer);
              if (answer.entries.length > 0) return finish();
            } else if (answer.kind === 'tooMany') tooMany.push(answer.peer);
            else if (answer.again && !asked.has(`again ${answer.peer}`)) {
              asked.add(`again ${answer.peer}`);
              queue.push({ peer, again: true });
            }
            next();
          });
        };
        const next = () => {
          // Verified answers of "none" and requests in flight together: at most `parallel`.
          const limit = hedged ? this.init.parallel : 1;
          while (
            !done &&
            inFlight < limit &&
            found.length + inFlight < this.init.parallel &&
            queue.length > 0
          ) {
            const { peer, again } = queue.shift()!;
            if (again) {
              inFlight++;
              setTimeout(() => {
                inFlight--;
                if (!done) launch(peer);
                else return;
                next();
              }, this.init.busyBackoffMs).unref();
            } else launch(peer);
          }
          if (!done && inFlight === 0 && (queue.length === 0 || found.length >= this.init.parallel)) finish();
        };
        hedge = setTimeout(() => {
          hedged = true;
          next();
        }, this.init.hedgeMs);
        hedge.unref();
        next();
      });
    });
  }

  /** One exchange with one peer. Never throws; bans a peer that sent bad bytes. */
  private async askOne(
    peerId: PeerId,
    request: LookupRequest,
    bytes: Uint8Array,
    root: Hash,
    cancel: AbortSignal,
  ): Promise<Answer> {
    const peer = peerId.toString();
    const { logId } = request;
    this.exchanges++;
    let response: Uint8Array | undefined;
    let slot = false;
    try {
      // Waiting for a slot to the peer is not the peer's time: the limit starts with the exchange.
      await this.acquire(peer, cancel);
      slot = true;
      const signal = AbortSignal.any([cancel, AbortSignal.timeout(this.init.timeoutMs)]);
      // Once more on a new connection when the one we used closed under us (libp2p prunes duplicate
      // connections made by concurrent dials): that is no answer from the peer, good or bad.
      for (let attempt = 0; response === undefined; attempt++) {
        const connection = await this.connect(peerId, signal);
        const outcome = await exchangeOnce(
          connection,
          LOOKUP_PROTOCOL,
          bytes,
          MAX_LOOKUP_RESPONSE_BYTES,
          signal,
        );
        if (outcome.response !== undefined) response = outcome.response;
        else if (cancel.aborted) return { kind: 'failed', peer };
        else if (outcome.blame !== undefined) return this.blame(peer, logId, outcome.blame);
        else if (connection.status === 'open' || attempt > 0) {
          log('lookup of %s in %s from %s failed: %s', request.hashPart, logId, peer, outcome.error);
          return { kind: 'failed', peer, again: outcome.error?.startsWith('TimeoutError') === true };
        }
      }
    } catch (err) {
      if (!cancel.aborted)
        log('lookup of %s in %s from %s failed: %s', request.hashPart, logId, peer, (err as Error)?.message);
      return { kind: 'failed', peer };
    } finally {
      if (slot) this.release(peer);
    }
    try {
      const answer = parseLookupResponse(response!, request);
      if (answer.status === LOOKUP_STATUS.tooMany) return { kind: 'tooMany', peer };
      if (answer.status !== LOOKUP_STATUS.ok) {
        log('%s answered status %d for %s', peer, answer.status, logId);
        if (answer.status === LOOKUP_STATUS.notHeld) {
          const lacking = this.lacking.get(logId) ?? new Map<string, number>();
          lacking.set(peer, Date.now() + this.init.notHeldMs);
          if (lacking.size > 4 * this.init.maxTried) lacking.delete(lacking.keys().next().value!);
          this.lacking.set(logId, lacking);
        }
        return { kind: 'failed', peer, again: answer.status === LOOKUP_STATUS.busy };
      }
      const entries = verifyLookupEntries(request, root, answer.entries, this.init.storeDir);
      this.remember(this.good, logId, peer);
      return { kind: 'entries', peer, entries };
    } catch (err) {
      if (err instanceof MalformedError || err instanceof VerificationError || err instanceof TooLargeError)
        return this.blame(peer, logId, err.message);
      throw err;
    }
  }

  /** The open connection to `peer`, dialled once however many lookups want it at the same time. */
  private async connect(peerId: PeerId, signal: AbortSignal): Promise<Connection> {
    const peer = peerId.toString();
    const known = this.connections.get(peer);
    if (known !== undefined && known.status === 'open') return known;
    let dialing = this.dialing.get(peer);
    if (dialing === undefined) {
      // Bounded by the lookup timeout, not by this caller's signal: others wait for the same dial.
      dialing = this.components.dialer
        .dial(peerId, { signal: AbortSignal.timeout(this.init.timeoutMs) })
        .finally(() => this.dialing.delete(peer));
      this.dialing.set(peer, dialing);
    }
    const connection = await raceSignal(dialing, signal);
    this.connections.set(peer, connection);
    return connection;
  }

  private async acquire(peer: string, signal: AbortSignal): Promise<void> {
    let s = this.slots.get(peer);
    if (s === undefined) {
      s = { active: 0, waiting: [] };
      this.slots.set(peer, s);
    }
    signal.throwIfAborted();
    if (s.active < this.init.maxPerPeer) {
      s.active++;
      return;
    }
    const slots = s;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        slots.waiting.splice(slots.waiting.indexOf(take), 1);
        reject(signal.reason);
      };
      const take = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      slots.waiting.push(take);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    // Handed a slot by release(): active already counts it.
  }

  private release(peer: string): void {
    const s = this.slots.get(peer);
    if (s === undefined) return;
    const next = s.waiting.shift();
    if (next !== undefined) {
      next();
      return;
    }
    s.active--;
    if (s.active === 0) this.slots.delete(peer);
  }

  private blame(peer: string, logId: string, reason: string): Answer {
    log('banning %s as a lookup source of %s: %s', peer, logId, reason);
    this.components.bans.banForLog(peer, logId, `lookup: ${reason}`);
    return { kind: 'failed', peer };
  }

  /**
   * Peers whose last answer verified, hinted peers, DHT providers in random order, then connected peers
   * that speak the protocol; never banned ones, ones that lately said they lack the log, nor ourselves;
   * at most maxTried.
   */
  private async candidates(logId: string): Promise<PeerId[]> {
    const { peerId: self, bans } = this.components;
    const out: PeerId[] = [];
    const seen = new Set<string>([self.toString()]);
    const lacking = this.lacking.get(logId);
    const now = Date.now();
    const add = (peer: PeerId) => {
      const id = peer.toString();
      if (seen.has(id) || bans.isBanned(id, logId) || out.length >= this.init.maxTried) return;
      seen.add(id);
      const until = lacking?.get(id);
      if (until !== undefined && until > now) return;
      out.push(peer);
    };
    const byId = (ids: readonly string[]) => {
      for (const id of ids) {
        try {
          add(peerIdFromString(id));
        } catch {
          // not a PeerId: ignored
        }
      }
    };
    byId(this.good.get(logId) ?? []);
    byId(this.hints.get(logId) ?? []);
    for (const peer of shuffled(await this.components.providers.findProviders(logId))) add(peer);
    for (const peer of this.components.connectedPeers?.() ?? []) add(peer);
    return out;
  }
}

/** `promise`, or `signal`'s reason once it aborts. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
