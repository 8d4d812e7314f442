/**
 * The lookup client's ways to its peers: a peer dialled once however many lookups want it at the same
 * time, its open connection reused, and at most `maxPerPeer` lookups in flight to it (more wait their
 * turn, below the server's cap on inbound streams). Apart from the exchange because these are shared by
 * every lookup, while an exchange is one request.
 */
import type { Connection, PeerId } from '@libp2p/interface';
import type { LookupClientComponents, LookupClientInit } from './lookup-client-init.ts';

export class LookupConnections {
  private readonly components: LookupClientComponents;
  private readonly init: Required<LookupClientInit>;
  private readonly connections = new Map<string, Connection>();
  private readonly dialing = new Map<string, Promise<Connection>>();
  /** Per peer: lookups in flight, and those waiting for a slot. */
  private readonly slots = new Map<string, { active: number; waiting: (() => void)[] }>();

  constructor(components: LookupClientComponents, init: Required<LookupClientInit>) {
    this.components = components;
    this.init = init;
  }

  /** The open connection to `peer`, dialled once however many lookups want it at the same time. */
  async connect(peerId: PeerId, signal: AbortSignal): Promise<Connection> {
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

  /** A slot for a lookup to `peer`: at once, or once release() hands one over. */
  async acquire(peer: string, signal: AbortSignal): Promise<void> {
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

  /** The slot of a lookup to `peer` back: to the next one waiting, if any. */
  release(peer: string): void {
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
