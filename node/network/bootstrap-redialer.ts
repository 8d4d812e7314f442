/**
 * Re-dials the bootstrap peers while the node has no connection at all.
 *
 * @libp2p/bootstrap dials its list once at start and never retries a refused dial: a node
 * started before its bootstrap peer, or one that lost every connection, would stay isolated forever.
 * This service dials the whole list again with exponential back-off for as long as the node is
 * isolated, and starts again whenever the last connection closes.
 */
import type {
  AbortOptions,
  ComponentLogger,
  Libp2pEvents,
  Logger,
  Startable,
  TypedEventTarget,
} from '@libp2p/interface';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { checkPeerMultiaddr } from './peer-address.ts';

export interface BootstrapRedialerInit {
  /** Bootstrap multiaddrs, each ending in `/p2p/<PeerId>`. An empty list makes the service idle. */
  readonly list: readonly string[];
  /** First delay after start or after the last connection closed, in ms. Default 1000. */
  readonly interval?: number;
  /** Upper bound of the doubling delay between rounds while isolated, in ms. Default 60_000. */
  readonly maxInterval?: number;
  /** Time allowed for each dial, in ms. Default 10_000. */
  readonly dialTimeout?: number;
}

export interface BootstrapRedialerComponents {
  readonly connectionManager: {
    getConnections(): readonly unknown[];
    openConnection(addr: Multiaddr, options?: AbortOptions): Promise<unknown>;
  };
  readonly events: TypedEventTarget<Libp2pEvents>;
  readonly logger: ComponentLogger;
}

export interface BootstrapRedialer {
  /** Dial rounds made so far (a round dials the whole list). */
  readonly rounds: number;
}

const DEFAULT_INTERVAL = 1000;
const DEFAULT_MAX_INTERVAL = 60_000;
const DEFAULT_DIAL_TIMEOUT = 10_000;

class DefaultBootstrapRedialer implements BootstrapRedialer, Startable {
  readonly [Symbol.toStringTag] = 'trustix:bootstrap-redialer';
  rounds = 0;
  private readonly components: BootstrapRedialerComponents;
  private readonly log: Logger;
  private readonly list: readonly Multiaddr[];
  private readonly interval: number;
  private readonly maxInterval: number;
  private readonly dialTimeout: number;
  private delay: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private readonly onConnectionClose = (): void => {
    if (this.isolated()) this.schedule(this.interval);
  };

  constructor(components: BootstrapRedialerComponents, init: BootstrapRedialerInit) {
    this.components = components;
    this.log = components.logger.forComponent('trustix:bootstrap-redialer');
    // Parsed here so a bad address fails createLibp2pNode, not a timer later.
    this.list = init.list.map((a) => {
      const m = multiaddr(a);
      checkPeerMultiaddr(m);
      return m;
    });
    this.interval = init.interval ?? DEFAULT_INTERVAL;
    this.maxInterval = init.maxInterval ?? DEFAULT_MAX_INTERVAL;
    this.dialTimeout = init.dialTimeout ?? DEFAULT_DIAL_TIMEOUT;
    this.delay = this.interval;
  }

  start(): void {
    if (this.list.length === 0 || this.running) return;
    this.running = true;
    this.components.events.addEventListener('connection:close', this.onConnectionClose);
  }

  afterStart(): void {
    if (this.running) this.schedule(this.interval);
  }

  stop(): void {
    this.running = false;
    this.components.events.removeEventListener('connection:close', this.onConnectionClose);
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private isolated(): boolean {
    return this.running && this.components.connectionManager.getConnections().length === 0;
  }

  private schedule(delay: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.delay = delay;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.round();
    }, delay);
    // Never the reason the process stays alive.
    this.timer.unref?.();
  }

  private async round(): Promise<void> {
    if (!this.isolated()) {
      this.delay = this.interval;
      return;
    }
    this.rounds++;
    this.log('isolated: dialing %d bootstrap peers (round %d)', this.list.length, this.rounds);
    await Promise.all(
      this.list.map((addr) => this.dial(addr, { signal: AbortSignal.timeout(this.dialTimeout) })),
    );
    if (this.isolated()) this.schedule(Math.min(this.delay * 2, this.maxInterval));
    else this.delay = this.interval;
  }

  private async dial(addr: Multiaddr, options: AbortOptions): Promise<void> {
    try {
      await this.components.connectionManager.openConnection(addr, options);
    } catch (err) {
      this.log('bootstrap dial %a failed: %s', addr, (err as Error).message);
    }
  }
}

/** The libp2p service factory: `services: { redial: bootstrapRedialer({ list }) }`. */
export function bootstrapRedialer(
  init: BootstrapRedialerInit,
): (components: BootstrapRedialerComponents) => BootstrapRedialer {
  return (components) => new DefaultBootstrapRedialer(components, init);
}
