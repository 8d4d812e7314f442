/**
 * Typed errors of the node layer, with stable names and codes (mapped once at each edge).
 */
import { TrustixError } from '../protocol/errors.ts';

/** The data directory's database is open in another process (LevelDB's LOCK). */
export class StoreLockedError extends TrustixError {
  constructor(dir: string, options?: ErrorOptions) {
    super(
      'ERR_STORE_LOCKED',
      `the store in ${dir} is in use by another process (is a trustix node already running?)`,
      options,
    );
  }
}

/** Stored data that does not verify against its own checkpoint: never served, reported loudly. */
export class StoreCorruptError extends TrustixError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_STORE_CORRUPT', message, options);
  }
}

/** The node is not running (no socket to talk to). */
export class NodeUnavailableError extends TrustixError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_NODE_UNAVAILABLE', message, options);
  }
}

/** A binary cache that cannot be read: unreachable, timing out, answering errors or oversize/invalid metadata. */
export class BinaryCacheError extends TrustixError {
  readonly url: string;

  constructor(url: string, message: string, options?: ErrorOptions) {
    super('ERR_BINARY_CACHE', `binary cache ${url}: ${message}`, options);
    this.url = url;
  }
}
