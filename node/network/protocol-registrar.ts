/**
 * Where a libp2p protocol handler is registered: the libp2p node, or its registrar. Its own module because
 * every protocol server of the node takes one (the tile exchange, node/network/tile-exchange.ts; the
 * lookup and catch-up services), and none of them should import another to name it.
 */
import type { StreamHandler, StreamHandlerOptions } from '@libp2p/interface';

/** Where a protocol handler is registered: the libp2p node, or its registrar. */
export interface ProtocolRegistrar {
  handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>;
  unhandle(protocol: string): Promise<void>;
}
