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

/** `nix-store` is not installed or not on PATH, and the work needs it (references come only from Nix). */
export class NixUnavailableError extends TrustixError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_NIX_UNAVAILABLE', message, options);
  }
}

/** A `nix-store` call failed, timed out, printed too much, or printed something we cannot parse. */
export class NixCommandError extends TrustixError {
  readonly args: readonly string[];

  constructor(args: readonly string[], message: string, options?: ErrorOptions) {
    super('ERR_NIX_COMMAND', `nix-store ${args.join(' ').slice(0, 200)}: ${message}`, options);
    this.args = args;
  }
}

/** A path that is outside the Nix store, not registered as valid there, or missing on disk. */
export class StorePathNotValidError extends TrustixError {
  readonly path: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super('ERR_STORE_PATH_NOT_VALID', `${path}: ${reason}`, options);
    this.path = path;
  }
}

/** A derivation for which Nix reports no outputs. */
export class NoOutputsError extends TrustixError {
  readonly drvPath: string;

  constructor(drvPath: string) {
    super('ERR_NO_OUTPUTS', `${drvPath}: Nix reports no outputs for this derivation`);
    this.drvPath = drvPath;
  }
}

/**
 * Our NAR serialization of a store path disagrees with the NAR hash or size Nix recorded for it:
 * the store on disk was altered after registration (or a serializer is wrong). Never logged.
 */
export class NarMismatchError extends TrustixError {
  readonly path: string;

  constructor(path: string, detail: string) {
    super('ERR_NAR_MISMATCH', `${path}: our NAR differs from what Nix recorded (${detail}); refused`);
    this.path = path;
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
