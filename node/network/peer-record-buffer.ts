/**
 * libp2p's datastore with the peer store's records held in memory and written behind. libp2p 3 merges
 * a stream's protocol into the remote peer's record on every stream opened, by either end, and stamps
 * the record's `updated` time: a LevelDB read and a LevelDB write per stream, one stream at a time per
 * peer (the peer store's per-peer lock). A light node's lookups open a stream per exchange (docs/PROTOCOL.md
 * "Lookups"): those reads and writes were a large share of a cold decision (docs/ARCHITECTURE.md).
 * Records under `/peers/` are read from memory once read or written; a written record reaches LevelDB
 * within `flushMs` (the newest value only) and at `flush()` (the node's stop). Queries flush first, so
 * they see what `get` sees. A crash loses at most `flushMs` of peer-record updates: peer records are a
 * cache of what peers said (addresses, protocols), rebuilt by identify on the next connection.
 */
import { logger } from '@libp2p/logger';
import type { LevelDatastore } from 'datastore-level';
import { type ProviderCapInit, ProviderCappedDatastore } from './provider-cap.ts';

type Key = Parameters<LevelDatastore['put']>[0];
type Query = Parameters<LevelDatastore['query']>[0];
type KeyQuery = Parameters<LevelDatastore['queryKeys']>[0];
type Options = Parameters<LevelDatastore['get']>[1];

const log = logger('trustix:peer-records');

/** The peer store's namespace (@libp2p/peer-store's NAMESPACE_COMMON). */
const PEERS = '/peers/';

export interface PeerRecordBufferInit {
  /** Most time a written peer record waits before it is written to LevelDB, in ms. Default 1,000. */
  readonly flushMs?: number;
  /** Peer records held in memory; beyond, the least recently used written ones are dropped. Default 4,096. */
  readonly maxRecords?: number;
}

export class PeerRecordBufferedDatastore extends ProviderCappedDatastore {
  private readonly flushMs: number;
  private readonly maxRecords: number;
  /** Peer records by key, least recently used first. */
  private readonly peerRecords = new Map<string, { key: Key; value: Uint8Array }>();
  private readonly dirty = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Peer-record writes that reached LevelDB (for tests). */
  written = 0;

  constructor(
    db: ConstructorParameters<typeof ProviderCappedDatastore>[0],
    cap: ProviderCapInit,
    init: PeerRecordBufferInit = {},
  ) {
    super(db, cap);
    this.flushMs = init.flushMs ?? 1_000;
    this.maxRecords = init.maxRecords ?? 4_096;
  }

  override async get(key: Key, options?: Options): Promise<Uint8Array> {
    const name = key.toString();
    if (!name.startsWith(PEERS)) return super.get(key, options);
    const held = this.peerRecords.get(name);
    if (held !== undefined) {
      this.touch(name, held);
      return held.value;
    }
    const value = await super.get(key, options);
    // Not cached over a newer write made while LevelDB was read.
    if (!this.peerRecords.has(name)) this.hold(name, { key, value });
    return value;
  }

  override async has(key: Key, options?: Options): Promise<boolean> {
    if (this.peerRecords.has(key.toString())) return true;
    return super.has(key, options);
  }

  override async put(key: Key, value: Uint8Array, options?: Parameters<LevelDatastore['put']>[2]) {
    const name = key.toString();
    if (!name.startsWith(PEERS)) return super.put(key, value, options);
    this.hold(name, { key, value });
    this.dirty.add(name);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err: unknown) => log.error('writing peer records: %s', err));
    }, this.flushMs).unref();
    return key;
  }

  override async delete(key: Key, options?: Parameters<LevelDatastore['delete']>[1]): Promise<void> {
    const name = key.toString();
    this.peerRecords.delete(name);
    this.dirty.delete(name);
    return super.delete(key, options);
  }

  override query(q: Query, options?: Options): ReturnType<LevelDatastore['query']> {
    const flushed = this.flush();
    const inner = () => super.query(q, options);
    return (async function* () {
      await flushed;
      yield* inner();
    })();
  }

  override queryKeys(q: KeyQuery, options?: Options): ReturnType<LevelDatastore['queryKeys']> {
    const flushed = this.flush();
    const inner = () => super.queryKeys(q, options);
    return (async function* () {
      await flushed;
      yield* inner();
    })();
  }

  /** Writes the peer records changed since the last flush (their newest values) to LevelDB. */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = this.flushing.then(async () => {
      if (this.dirty.size === 0) return;
      const batch = super.batch();
      for (const name of this.dirty) {
        const held = this.peerRecords.get(name);
        if (held !== undefined) batch.put(held.key, held.value);
      }
      this.written += this.dirty.size;
      this.dirty.clear();
      await batch.commit();
    });
    return this.flushing;
  }

  private touch(name: string, held: { key: Key; value: Uint8Array }): void {
    this.peerRecords.delete(name);
    this.peerRecords.set(name, held);
  }

  private hold(name: string, held: { key: Key; value: Uint8Array }): void {
    this.touch(name, held);
    if (this.peerRecords.size <= this.maxRecords) return;
    for (const old of this.peerRecords.keys()) {
      if (this.peerRecords.size <= this.maxRecords) break;
      // A record not yet written stays until its flush.
      if (!this.dirty.has(old)) this.peerRecords.delete(old);
    }
  }
}
