/**
 * The lookup client of a light node (docs/PROTOCOL.md "Lookups"; node/network/lookup-service.ts is the
 * server): a log's entries for one store path, with inclusion proofs checked against the light log's
 * verified checkpoint, from the peers that hold the log.
 *
 * Candidates: the peers that recently told us of the log's checkpoints (`hint`), then its DHT providers
 * (cached `providerTtlMs`), never a peer banned for the log nor ourselves. They are asked `parallel` at a
 * time (default 2): the first answer with entries that all verify wins and the other request is aborted;
 * an answer of "none" waits for the other one of its pair (a provider can hide entries, never invent
 * them: two must agree to hide). A peer whose answer fails verification, is malformed, truncated or over
 * MAX_LOOKUP_RESPONSE_BYTES is banned as a source of that log (node/network/peer-bans.ts); one that is
 * busy, does not hold the tree, times out or is unreachable is just passed over. With no candidate left
 * the result is `unavailable`: the caller treats the log as silent for that path (docs/SECURITY.md).
 *
 * Verified answers are cached by (log, tree size, path) in an LRU bounded by bytes (`cacheBytes`): a
 * new verified checkpoint makes new keys, and the old ones age out. Concurrent lookups of one key share
 * one exchange.
 */
import type { Connection, Libp2p, PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { lpStream } from '@libp2p/utils';
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
import type { PeerBans } from './peer-bans.ts';
import { endStream } from './tile-exchange.ts';

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
  /** The log's DHT providers (node/network/log-providers.ts). */
  readonly providers: { findProviders(logId: string): Promise<PeerId[]> };
  readonly peerId: PeerId;
  readonly bans: PeerBans;
}

export interface LookupClientInit {
  /** Time for one exchange with one provider (dial to closed stream), in ms. Default LOOKUP_TIMEOUT_MS (10,000). */
  readonly timeoutMs?: number;
  /** Providers asked at once. Default LOOKUP_PARALLEL (2). */
  readonly parallel?: number;
  /** Providers tried for one lookup, at most. Default 8. */
  readonly maxTried?: number;
  /** How long a log's DHT providers are remembered, in ms. Default 60,000. */
  readonly providerTtlMs?: number;
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
  | { kind: 'failed'; peer: string };

export class LookupClient {
  private readonly components: LookupClientComponents;
  private readonly init: Required<LookupClientInit>;
  private readonly cache: LRUCache<string, LookupResult & { kind: 'entries' | 'tooMany' }>;
  private readonly inflight = new Map<string, Promise<LookupResult>>();
  private readonly hints = new Map<string, string[]>();
  private readonly providers = new Map<string, { at: number; peers: PeerId[] }>();
  private readonly connections = new Map<string, Connection>();
  /** Exchanges made (not answered from the cache), for tests and benchmarks. */
  exchanges = 0;

  constructor(components: LookupClientComponents, init: LookupClientInit = {}) {
    this.components = components;
    this.init = {
      timeoutMs: LOOKUP_TIMEOUT_MS,
      parallel: LOOKUP_PARALLEL,
      maxTried: 8,
      providerTtlMs: 60_000,
      maxHints: 8,
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

  /** A peer that holds (or told us of) the log: asked first. */
  hint(logId: string, peer: string): void {
    if (peer === this.components.peerId.toString()) return;
    const list = (this.hints.get(logId) ?? []).filter((p) => p !== peer);
    list.unshift(peer);
    this.hints.set(logId, list.slice(0, this.init.maxHints));
  }

  /** Bytes and answers the cache holds. */
  cacheSize(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.calculatedSize };
  }

  /** Forgets what is known of a log (unfollowed). */
  forget(logId: string): void {
    this.hints.delete(logId);
    this.providers.delete(logId);
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

  private async ask(request: LookupRequest, bytes: Uint8Array, root: Hash): Promise<LookupResult> {
    const { logId } = request;
    const candidates = await this.candidates(logId);
    if (candidates.length === 0) return { kind: 'unavailable', reason: 'no provider known' };
    const tooMany: string[] = [];
    for (let i = 0; i < candidates.length; i += this.init.parallel) {
      const pair = candidates.slice(i, i + this.init.parallel);
      const answers = await this.race(pair, request, bytes, root);
      const found = answers.filter((a) => a.kind === 'entries');
      if (found.length > 0) {
        // The union: a provider may leave entries out, never put one in (each one verified).
        const byIndex = new Map<number, { index: number; entry: string }>();
        for (const a of found) for (const e of a.entries) byIndex.set(e.index, e);
        const entries = [...byIndex.values()].sort((a, b) => a.index - b.index);
        return { kind: 'entries', entries, from: found.map((a) => a.peer) };
      }
      for (const a of answers) if (a.kind === 'tooMany') tooMany.push(a.peer);
      if (tooMany.length > 0) return { kind: 'tooMany', from: tooMany };
    }
    return { kind: 'unavailable', reason: `none of ${candidates.length} provider(s) answered` };
  }

  /**
   * Asks `peers` at once. Returns as soon as one answers with entries that verify (the others aborted);
   * otherwise once all have answered or failed.
   */
  private race(peers: readonly PeerId[], request: LookupRequest, bytes: Uint8Array, root: Hash) {
    const controller = new AbortController();
    return new Promise<Answer[]>((resolve) => {
      const answers: Answer[] = [];
      let done = false;
      for (const peer of peers)
        this.askOne(peer, request, bytes, root, controller.signal).then((answer) => {
          answers.push(answer);
          if (done) return;
          if ((answer.kind === 'entries' && answer.entries.length > 0) || answers.length === peers.length) {
            done = true;
            controller.abort(new DeadlineExceededError('another provider answered'));
            resolve(answers);
          }
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
    const signal = AbortSignal.any([cancel, AbortSignal.timeout(this.init.timeoutMs)]);
    this.exchanges++;
    let stream: Awaited<ReturnType<Connection['newStream']>> | undefined;
    let response: Uint8Array;
    try {
      let connection = this.connections.get(peer);
      if (connection === undefined || connection.status !== 'open') {
        connection = await this.components.dialer.dial(peerId, { signal });
        this.connections.set(peer, connection);
      }
      stream = await connection.newStream(LOOKUP_PROTOCOL, { signal, runOnLimitedConnection: true });
      const lp = lpStream(stream, {
        maxDataLength: MAX_LOOKUP_RESPONSE_BYTES,
        maxBufferSize: MAX_LOOKUP_RESPONSE_BYTES + 8,
      });
      await lp.write(bytes, { signal });
      await stream.close({ signal });
      response = (await lp.read({ signal })).subarray();
      await endStream(stream, signal);
    } catch (err) {
      stream?.abort(err as Error);
      const name = (err as Error | undefined)?.name;
      if (cancel.aborted) return { kind: 'failed', peer };
      if (
        name === 'InvalidDataLengthError' ||
        name === 'InvalidDataLengthLengthError' ||
        name === 'StreamBufferError'
      )
        return this.blame(peer, logId, `an answer over ${MAX_LOOKUP_RESPONSE_BYTES} bytes`);
      if (name === 'UnexpectedEOFError')
        return this.blame(peer, logId, 'a truncated answer (the stream ended inside it)');
      log('lookup of %s in %s from %s failed: %s', request.hashPart, logId, peer, (err as Error)?.message);
      if (this.connections.get(peer)?.status !== 'open') this.connections.delete(peer);
      return { kind: 'failed', peer };
    }
    try {
      const answer = parseLookupResponse(response, request);
      if (answer.status === LOOKUP_STATUS.tooMany) return { kind: 'tooMany', peer };
      if (answer.status !== LOOKUP_STATUS.ok) {
        log('%s answered status %d for %s', peer, answer.status, logId);
        return { kind: 'failed', peer };
      }
      const entries = verifyLookupEntries(request, root, answer.entries, this.init.storeDir);
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

  /** Hinted peers, then DHT providers in random order; never banned ones nor ourselves; at most maxTried. */
  private async candidates(logId: string): Promise<PeerId[]> {
    const { peerId: self, bans } = this.components;
    const out: PeerId[] = [];
    const seen = new Set<string>([self.toString()]);
    const add = (peer: PeerId) => {
      const id = peer.toString();
      if (seen.has(id) || bans.isBanned(id, logId) || out.length >= this.init.maxTried) return;
      seen.add(id);
      out.push(peer);
    };
    let cached = this.providers.get(logId);
    if (
      cached === undefined ||
      Date.now() - cached.at > this.init.providerTtlMs ||
      cached.peers.length === 0
    ) {
      const peers = await this.components.providers.findProviders(logId).catch((err: unknown) => {
        log('finding providers of %s failed: %s', logId, err);
        return [] as PeerId[];
      });
      cached = { at: Date.now(), peers };
      this.providers.set(logId, cached);
    }
    const { peerIdFromString } = await import('@libp2p/peer-id');
    for (const hint of this.hints.get(logId) ?? []) {
      try {
        add(peerIdFromString(hint));
      } catch {
        // not a PeerId: ignored
      }
    }
    for (const peer of shuffled(cached.peers)) add(peer);
    return out;
  }
}

/** A copy of `items` in random order (Fisher-Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
