/**
 * Typed errors of the node layer, with stable names and codes (mapped once at each edge).
 */

import { TrustixError } from '../protocol/errors.ts';
import type { Evidence } from '../protocol/evidence.ts';

/**
 * A config file that cannot be used; the message names the file, line and option (node/config/config-file.ts).
 * Here rather than beside the parser so that node/client.ts exports it without loading jsonc-parser.
 */
export class ConfigError extends TrustixError {
  readonly file: string;
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, message: string, options?: ErrorOptions) {
    super('ERR_CONFIG', `${file}${line === undefined ? '' : `:${line}`}: ${message}`, options);
    this.file = file;
    this.line = line;
  }
}

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

/**
 * A file or directory that can change what the node runs or trusts is writable by (or, for a secret,
 * readable by) other users, or owned by another user (node/store/file-permissions.ts).
 */
export class InsecurePermissionsError extends TrustixError {
  readonly path: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super('ERR_INSECURE_PERMISSIONS', `${path}: ${reason}`, options);
    this.path = path;
  }
}

/** A key file of the data directory that is missing, unreadable or not a valid key; names the file and the fix. */
export class KeyFileError extends TrustixError {
  readonly path: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super('ERR_KEY_FILE', `${path}: ${reason}`, options);
    this.path = path;
  }
}

/**
 * log.secret is not the key the stored own log was started with (it was replaced): starting would begin
 * a new log and orphan the old one.
 */
export class OwnLogKeyError extends TrustixError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_OWN_LOG_KEY', message, options);
  }
}

/** A request that needs the vote (decide, challenge, follow), sent to a bootstrap node, which has none. */
export class NoVoteError extends TrustixError {
  constructor(what: string) {
    super(
      'ERR_NO_VOTE',
      `this is a bootstrap node: it has no vote (it follows no logs and decides nothing), so it cannot ` +
        `${what}; ask a node started with 'trustix start'`,
    );
  }
}

/**
 * The data directory or its store cannot be used as asked (read-only, unreadable, not initialised, holding
 * another key, changed meanwhile); names the path and the cause.
 */
export class DataDirError extends TrustixError {
  readonly path: string;

  constructor(path: string, reason: string, options?: ErrorOptions) {
    super('ERR_DATA_DIR', `${path}: ${reason}`, options);
    this.path = path;
  }
}

/** The HTTP server cannot listen where it was told (port in use, no permission, no such address). */
export class HttpListenError extends TrustixError {
  constructor(address: string, reason: string, options?: ErrorOptions) {
    super('ERR_HTTP_LISTEN', `cannot serve HTTP on ${address}: ${reason}`, options);
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

/** An upstream NAR transfer cut for the upstream's doing: too short, stalled, too slow or past its deadline. */
export class UpstreamTransferError extends TrustixError {
  constructor(what: string, message: string, options?: ErrorOptions) {
    super('ERR_UPSTREAM_TRANSFER', `${what}: ${message}`, options);
  }
}

/** Why a tile source was dropped: stable values, so the node can penalise a peer by kind. */
export type SourceFailure =
  /** No complete answer within the request timeout. */
  | 'timeout'
  /** Unreachable, connection reset, an unexpected status. */
  | 'unavailable'
  /** Said it is busy (HTTP 429/503, tile exchange status 3) more often than we retry. */
  | 'busy'
  /** A body over the cap for what was asked. */
  | 'oversized'
  /** Bytes that do not parse (wrong tile width, bad entry bundle, a non-entry in a bundle). */
  | 'malformed'
  /** Well-formed bytes that do not verify against the signed root (altered tiles or entries). */
  | 'invalid'
  /** Said "not found" for a tile that the checkpoint it signs for (its own claim) has. */
  | 'withheld'
  /**
   * Answered below the minimum throughput (SourcePoolInit.minBytesPerSecond) while other sources were
   * left: demoted for the rest of the sync, not a fault (a peer may sit behind a slow link), never banned.
   */
  | 'slow';

/** A tile source failed one request (see SourceFailure); the sync drops it for the log. */
export class TileSourceError extends TrustixError {
  readonly sourceId: string;
  readonly reason: SourceFailure;

  constructor(sourceId: string, reason: SourceFailure, message: string, options?: ErrorOptions) {
    super('ERR_TILE_SOURCE', `tile source ${sourceId}: ${reason}: ${message}`, options);
    this.sourceId = sourceId;
    this.reason = reason;
  }
}

/**
 * A sync that could not complete: no source left that serves (verifiably) what the log needs. The
 * committed local copy is unchanged; verified data staged so far is kept for the next attempt.
 */
export class SyncFailedError extends TrustixError {
  readonly logId: string;

  constructor(logId: string, message: string, options?: ErrorOptions) {
    super('ERR_SYNC_FAILED', `sync of log ${logId}: ${message}`, options);
    this.logId = logId;
  }
}

/**
 * The log key signed two histories that cannot both be true (found while syncing). Nothing of the
 * conflicting history was stored. `notes` are the two signed checkpoints, smaller size first;
 * `evidence` is the verifiable document (protocol/evidence.ts) when it could be built.
 */
export class LogForkError extends TrustixError {
  readonly logId: string;
  readonly notes: readonly [Uint8Array, Uint8Array];
  readonly evidence: Evidence | undefined;

  constructor(logId: string, notes: readonly [Uint8Array, Uint8Array], evidence: Evidence | undefined) {
    super('ERR_LOG_FORKED', `log ${logId} is forked: its key signed two inconsistent checkpoints`);
    this.logId = logId;
    this.notes = notes;
    this.evidence = evidence;
  }
}

/**
 * A followed log whose signed tree holds something that is not a valid entry (protocol/entry.ts). Every
 * honest source serves the same bytes, so no source is blamed: the log itself is refused from there on.
 */
export class InvalidLogEntryError extends TrustixError {
  readonly logId: string;
  readonly index: number;

  constructor(logId: string, index: number, options?: ErrorOptions) {
    super('ERR_INVALID_LOG_ENTRY', `log ${logId} holds an invalid entry at index ${index}`, options);
    this.logId = logId;
    this.index = index;
  }
}

/** The per-log limits and quotas of the config's `sync` section (docs/CLI.md). */
export type LogLimit = 'maxTreeSize' | 'maxGrowth' | 'maxEntryBytes' | 'maxReferences' | 'maxLogBytes';

/**
 * A followed log beyond this node's limits or quotas for it (maximum tree size, maximum growth per
 * checkpoint, largest entry, most references, most stored bytes; see docs/CLI.md "sync"): a signed
 * checkpoint can claim any size up to 2^53 - 1, and a builder can sign entries as big and as many as it
 * likes. Not retried: the log only grows; raise the limit in the config and restart to sync it.
 */
export class LogLimitError extends TrustixError {
  readonly logId: string;
  readonly limit: LogLimit;

  constructor(logId: string, limit: LogLimit, message: string) {
    super('ERR_LOG_LIMIT', `log ${logId}: ${message} (sync.${limit})`);
    this.logId = logId;
    this.limit = limit;
  }
}

/**
 * A tile exchange request the peer refused as malformed (status 2), or one too long to send: not a
 * fault of the source (our path broke the shared grammar), so it is not a TileSourceError.
 */
export class BadTileRequestError extends TrustixError {
  readonly sourceId: string;
  readonly path: string;

  constructor(sourceId: string, path: string, message: string, options?: ErrorOptions) {
    super(
      'ERR_BAD_TILE_REQUEST',
      `tile source ${sourceId}: ${message}: ${JSON.stringify(path.slice(0, 200))}`,
      options,
    );
    this.sourceId = sourceId;
    this.path = path;
  }
}

/** An external program (decompressor, diffoscope) that is missing, failed or timed out. */
export class ExternalToolError extends TrustixError {
  readonly tool: string;
  readonly stderr: string;

  constructor(tool: string, message: string, stderr = '', options?: ErrorOptions) {
    const detail = stderr.trim().slice(0, 1000);
    super('ERR_EXTERNAL_TOOL', `${tool}: ${message}${detail === '' ? '' : `: ${detail}`}`, options);
    this.tool = tool;
    this.stderr = stderr;
  }
}

/**
 * A part of the node asked for when it is not there: before start(), after stop(), or one this node's
 * role does not have (a bootstrap node has no log of its own and no user side).
 */
export class NotStartedError extends TrustixError {
  constructor(message: string) {
    super('ERR_NOT_STARTED', message);
  }
}

/**
 * The file system of the data directory is below the low-disk watermark (config `sync.minFreeBytes`):
 * syncs pause (their verified steps stay staged) and go on by themselves once space is freed.
 */
export class DiskSpaceError extends TrustixError {
  readonly free: number;
  readonly watermark: number;

  constructor(dir: string, free: number, watermark: number) {
    super(
      'ERR_DISK_LOW',
      `${dir}: ${free} bytes free, below the low-disk watermark of ${watermark} (sync.minFreeBytes): syncs are paused until space is freed`,
    );
    this.free = free;
    this.watermark = watermark;
  }
}

/**
 * The node's own log already holds MAX_PATH_ENTRIES entries for a store path (rebuilds with other
 * fingerprints): its followers abstain on the path beyond that (docs/SECURITY.md), so it takes no more.
 */
export class PathFullError extends TrustixError {
  readonly storePath: string;

  constructor(storePath: string, max: number) {
    super('ERR_PATH_FULL', `the log holds ${max} entries for ${storePath} already: no more are published`);
    this.storePath = storePath;
  }
}

/** Work cut short because the component doing it stopped or closed (its abort reason, or its refusal). */
export class StoppedError extends TrustixError {
  constructor(message: string) {
    super('ERR_STOPPED', message);
  }
}

/** An exchange or a step that did not complete within its time limit (every remote interaction has one). */
export class DeadlineExceededError extends TrustixError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_DEADLINE_EXCEEDED', message, options);
  }
}

/** `trustix demo` could not set itself up, or its own check of what it ran failed. */
export class DemoFailedError extends TrustixError {
  constructor(message: string) {
    super('ERR_DEMO_FAILED', message);
  }
}

/** A broken internal contract: a bug in Trustix, never the fault of a peer or of input. */
export class InternalError extends TrustixError {
  constructor(message: string) {
    super('ERR_INTERNAL', message);
  }
}

/** Something thrown that is not an Error (`throw 'text'` in a library or a script), wrapped to be handled as one. */
export class ThrownValueError extends TrustixError {
  readonly value: unknown;

  constructor(value: unknown) {
    super('ERR_THROWN_VALUE', String(value));
    this.value = value;
  }
}

/** `err` itself when it is an Error, else a ThrownValueError around it. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new ThrownValueError(err);
}
