/**
 * Meeting other Trustix nodes with no server of ours (docs/PROTOCOL.md, "Rendezvous"): every node
 * provides one well-known CID, derived from RENDEZVOUS_NAMESPACE, on the DHTs it is part of (the
 * public Amino DHT among them), and while it knows too few Trustix peers it looks that CID up and dials
 * the providers. Only provider records are stored there, never Trustix data; lookups are bounded in
 * time and results; the record is provided again well before it expires, and once the routing table
 * has doubled while it reached fewer than k peers (node/network/provide-reach.ts).
 */
import type { ContentRouting, PeerId } from '@libp2p/interface';
import { logger } from '@libp2p/logger';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { RENDEZVOUS_NAMESPACE } from '../../protocol/constants.ts';
import { afterProvide, type ProvidingDht, provideOn, type Reach } from './provide-reach.ts';

const log = logger('trustix:rendezvous');

/** CIDv1(raw, sha2-256(UTF-8 RENDEZVOUS_NAMESPACE)). */
export async function rendezvousCid(): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(RENDEZVOUS_NAMESPACE)));
}

export interface RendezvousInit {
  /**
   * How often the rendezvous record is provided again. Default 12 h: Amino keeps provider records
   * 48 h and IPFS nodes reprovide every 22 h; twice as often keeps us findable through one failure.
   */
  readonly reprovideIntervalMs?: number;
  /**
   * After a provide that reached fewer than k peers, how soon it is looked at again (doubling, up to the
   * reprovide interval), and provided again if the routing table has doubled since (provide-reach.ts
   * `afterProvide`). Default 10 s.
   */
  readonly retryDelayMs?: number;
  /** Time one provide may take. Default 60 s. */
  readonly provideTimeoutMs?: number;
  /** How often to look for Trustix peers while we know fewer than `wantPeers`. Default 60 s. */
  readonly lookupIntervalMs?: number;
  /** Time and result bound of one lookup. Defaults 30 s and 20 providers. */
  readonly findTimeoutMs?: number;
  readonly maxProviders?: number;
  /** Trustix peers enough to stop looking. Default 8. */
  readonly wantPeers?: number;
}

export interface RendezvousComponents {
  /** Where the rendezvous is looked up: libp2p's content routing, over every DHT the node is on. */
  readonly contentRouting: Pick<ContentRouting, 'findProviders'>;
  /** Where our record goes, each counting the peers that took it: Trustix's DHT and the public one. */
  readonly dhts: readonly ProvidingDht[];
  readonly peerId: PeerId;
  /** Dials a peer found at the rendezvous (the connection manager's gater and limits apply). */
  readonly dialer: { dial(peer: PeerId, options?: { signal?: AbortSignal }): Promise<unknown> };
  /** Trustix peers we are connected to now. */
  trustixPeers(): Promise<number>;
}

export class Rendezvous {
  private readonly init: Required<RendezvousInit>;
  private abort: AbortController | undefined;
  private provideTimer: NodeJS.Timeout | undefined;
  private lookupTimer: NodeJS.Timeout | undefined;
  private running: Promise<unknown>[] = [];
  /** How far the last provide went on each DHT. */
  private reach: readonly Reach[] = [];

  constructor(
    private readonly components: RendezvousComponents,
    init: RendezvousInit = {},
  ) {
    this.init = {
      reprovideIntervalMs: 12 * 3600_000,
      retryDelayMs: 10_000,
      provideTimeoutMs: 60_000,
      lookupIntervalMs: 60_000,
      findTimeoutMs: 30_000,
      maxProviders: 20,
      wantPeers: 8,
      ...init,
    };
  }

  /** Provides the rendezvous CID and starts looking for peers; does not wait for either. */
  start(): void {
    if (this.abort !== undefined) return;
    this.abort = new AbortController();
    this.provide(this.init.retryDelayMs);
    this.lookup();
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    clearTimeout(this.provideTimer);
    clearTimeout(this.lookupTimer);
    await Promise.allSettled(this.running);
    this.running = [];
    this.abort = undefined;
  }

  /** Providers of the rendezvous CID (never this node), within the time and result bounds. */
  async find(signal?: AbortSignal): Promise<PeerId[]> {
    const timeout = AbortSignal.timeout(this.init.findTimeoutMs);
    const found: PeerId[] = [];
    try {
      for await (const p of this.components.contentRouting.findProviders(await rendezvousCid(), {
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      })) {
        if (p.id.equals(this.components.peerId) || found.some((f) => f.equals(p.id))) continue;
        found.push(p.id);
        if (found.length >= this.init.maxProviders) break;
      }
    } catch (err) {
      if (!timeout.aborted) throw err;
    }
    return found;
  }

  private track(job: Promise<unknown>): void {
    this.running.push(job);
    job.finally(() => {
      this.running = this.running.filter((j) => j !== job);
    });
  }

  private provide(retryDelay: number): void {
    const abort = this.abort;
    if (abort === undefined || abort.signal.aborted) return;
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(this.init.provideTimeoutMs)]);
    const job = rendezvousCid()
      .then((cid) => provideOn(this.components.dhts, cid, { signal }))
      .then((reach) => {
        if (abort.signal.aborted) return;
        this.reach = reach;
        log(
          'provided the rendezvous record (peers reached per DHT: %s)',
          reach.map((r) => r.reached).join(', '),
        );
        if (afterProvide(reach, this.components.dhts) === 'done')
          this.schedule(this.init.reprovideIntervalMs, () => this.provide(this.init.retryDelayMs));
        else this.lookAgain(retryDelay);
      });
    this.track(job);
  }

  /** After `delay`, provides again if a record that reached too few peers calls for it, else looks later. */
  private lookAgain(delay: number): void {
    const next = Math.min(delay * 2, this.init.reprovideIntervalMs);
    this.schedule(delay, () => {
      if (afterProvide(this.reach, this.components.dhts) === 'again') this.provide(next);
      else this.lookAgain(next);
    });
  }

  private schedule(delay: number, then: () => void): void {
    this.provideTimer = setTimeout(then, delay);
    this.provideTimer.unref();
  }

  private lookup(): void {
    const abort = this.abort;
    if (abort === undefined || abort.signal.aborted) return;
    const job = (async () => {
      if ((await this.components.trustixPeers()) >= this.init.wantPeers) return;
      const found = await this.find(abort.signal);
      log('rendezvous: %d Trustix peers found', found.length);
      await Promise.allSettled(
        found.map((peer) =>
          this.components.dialer
            .dial(peer, {
              signal: AbortSignal.any([abort.signal, AbortSignal.timeout(this.init.findTimeoutMs)]),
            })
            .catch((err: unknown) => log('dialling %s from the rendezvous: %s', peer, err)),
        ),
      );
    })()
      .catch((err: unknown) => log('rendezvous lookup failed: %s', err))
      .finally(() => {
        if (abort.signal.aborted) return;
        this.lookupTimer = setTimeout(() => this.lookup(), this.init.lookupIntervalMs);
        this.lookupTimer.unref();
      });
    this.track(job);
  }
}
