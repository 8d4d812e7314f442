/**
 * DHT provider records for logs (docs/PROTOCOL.md): a node that holds a complete, verified copy of a
 * log provides CIDv1(raw, sha2-256 multihash whose digest is the 32 bytes of the log ID), and followers
 * find who serves a log with findProviders. Providing never blocks start-up (it waits for peers), runs
 * once per log at a time, is made again once the routing table has doubled while it reached fewer than
 * k peers (a table still filling: node/network/provide-reach.ts), and is repeated on a schedule because
 * provider records expire.
 */
import type { ContentRouting, PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import * as Digest from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';
import { afterProvide, type ProvidingDht, provideOn, type Reach } from './provide-reach.ts';

const log = logger('trustix:providers');

/** The DHT key of a log: CIDv1(raw, sha2-256 multihash of the log ID bytes). */
export function logCid(logId: string): CID {
  if (!/^[0-9a-f]{64}$/.test(logId)) throw new TypeError(`not a log ID: ${logId}`);
  return CID.createV1(raw.code, Digest.create(sha256.code, Buffer.from(logId, 'hex')));
}

export interface LogProvidersInit {
  /** How often every held log is provided again (kad-dht records expire after 48 h). Default 12 h. */
  readonly reprovideIntervalMs?: number;
  /** Time one provide may take. Default 60 s. */
  readonly provideTimeoutMs?: number;
  /** Time and result bound of one lookup. Defaults 10 s and 20 peers. */
  readonly findTimeoutMs?: number;
  readonly maxProviders?: number;
  /**
   * After a provide that reached fewer than k peers, how soon it is looked at again (doubling, up to the
   * reprovide interval), and provided again if the routing table has doubled since (provide-reach.ts
   * `afterProvide`): a first provide often finds a table still empty or filling, and waiting a whole
   * reprovide interval would leave the log unfindable for hours. Default 5 s.
   */
  readonly retryDelayMs?: number;
}

export interface LogProvidersComponents {
  /** Where providers are looked up: libp2p's content routing, over every DHT the node is on. */
  readonly contentRouting: Pick<ContentRouting, 'findProviders'>;
  /** Where our records go, each counting the peers that took one: Trustix's DHT, and the public one if joined. */
  readonly dhts: readonly ProvidingDht[];
  /** Our own PeerId, left out of lookup results. */
  readonly peerId: PeerId;
}

export class LogProviders {
  private readonly components: LogProvidersComponents;
  private readonly init: Required<LogProvidersInit>;
  private readonly held = new Set<string>();
  private readonly providing = new Map<string, Promise<void>>();
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; delay: number }>();
  /** Per log, how far its last provide went on each DHT (provide-reach.ts `afterProvide`). */
  private readonly reach = new Map<string, readonly Reach[]>();
  private timer: NodeJS.Timeout | undefined;
  private abort: AbortController | undefined;

  constructor(components: LogProvidersComponents, init: LogProvidersInit = {}) {
    this.components = components;
    this.init = {
      reprovideIntervalMs: 12 * 3600_000,
      provideTimeoutMs: 60_000,
      findTimeoutMs: 10_000,
      maxProviders: 20,
      retryDelayMs: 5_000,
      ...init,
    };
  }

  start(): void {
    this.abort = new AbortController();
    this.timer = setInterval(() => {
      for (const logId of this.held) this.provideInBackground(logId);
    }, this.init.reprovideIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const r of this.retries.values()) clearTimeout(r.timer);
    this.retries.clear();
    this.abort?.abort();
    await Promise.allSettled(this.providing.values());
  }

  /**
   * Announces (now, and on every reprovide) that this node serves `logId`. Does not wait. A log already
   * announced is not announced again: a follower calls this after every sync, and each announcement is a
   * DHT walk plus k = 20 ADD_PROVIDER requests, while the record lives 48 h and the reprovide renews it
   * (a failed announcement is retried on its own schedule).
   */
  provide(logId: string): void {
    logCid(logId);
    if (this.held.has(logId)) return;
    this.held.add(logId);
    this.provideInBackground(logId);
  }

  /**
   * Announces every held log again now: a provider record carries the addresses we had when it was
   * made, so a node whose addresses changed (a relay reservation, a UPnP mapping) must refresh them or
   * stay unreachable for a whole reprovide interval. A provide already under way is followed by one more.
   */
  refresh(): void {
    for (const logId of this.held) {
      const running = this.providing.get(logId);
      if (running === undefined) this.provideInBackground(logId);
      else running.finally(() => this.provideInBackground(logId)).catch(() => {});
    }
  }

  /** Stops announcing `logId` (its record expires on its own). */
  withdraw(logId: string): void {
    this.held.delete(logId);
    clearTimeout(this.retries.get(logId)?.timer);
    this.retries.delete(logId);
    this.reach.delete(logId);
  }

  /** Peers that provide `logId`, at most maxProviders, within findTimeoutMs; never this node. */
  async findProviders(logId: string, signal?: AbortSignal): Promise<PeerId[]> {
    const cid = logCid(logId);
    const timeout = AbortSignal.timeout(this.init.findTimeoutMs);
    const found: PeerId[] = [];
    try {
      for await (const provider of this.components.contentRouting.findProviders(cid, {
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      })) {
        if (provider.id.equals(this.components.peerId) || found.some((p) => p.equals(provider.id))) continue;
        found.push(provider.id);
        if (found.length >= this.init.maxProviders) break;
      }
    } catch (err) {
      // A lookup cut short by its time limit still returns what it found.
      if (!timeout.aborted) throw err;
    }
    return found;
  }

  private provideInBackground(logId: string): void {
    if (this.providing.has(logId) || this.abort?.signal.aborted) return;
    clearTimeout(this.retries.get(logId)?.timer); // a look pending: this provide answers it
    const signal = AbortSignal.any([
      this.abort?.signal ?? new AbortController().signal,
      AbortSignal.timeout(this.init.provideTimeoutMs),
    ]);
    const job = provideOn(this.components.dhts, logCid(logId), { signal })
      .then((reach) => {
        if (this.abort?.signal.aborted || !this.held.has(logId)) return;
        this.reach.set(logId, reach);
        log('provided %s (peers reached per DHT: %s)', logId, reach.map((r) => r.reached).join(', '));
        if (afterProvide(reach, this.components.dhts) === 'done') this.retries.delete(logId);
        else this.lookAgain(logId);
      })
      .finally(() => this.providing.delete(logId));
    this.providing.set(logId, job);
  }

  /** Looks again, after the next delay, whether a record that reached too few peers is to be provided again. */
  private lookAgain(logId: string): void {
    const delay = Math.min(
      (this.retries.get(logId)?.delay ?? this.init.retryDelayMs / 2) * 2,
      this.init.reprovideIntervalMs,
    );
    const timer = setTimeout(() => {
      const reach = this.reach.get(logId);
      if (reach === undefined || !this.held.has(logId)) return;
      if (afterProvide(reach, this.components.dhts) === 'again') this.provideInBackground(logId);
      else this.lookAgain(logId);
    }, delay);
    timer.unref();
    this.retries.set(logId, { timer, delay });
  }
}
