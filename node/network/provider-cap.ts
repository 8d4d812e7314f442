/**
 * libp2p's datastore with a cap on the DHT provider records one peer may place in it (docs/SECURITY.md,
 * "Keyless peers"). kad-dht stores every ADD_PROVIDER it is sent, for any CID, for 48 hours, with no
 * bound per sender, so one peer could fill this node's disk and crowd every lookup's answers with its
 * own records. kad-dht has no hook for this: its records (`<prefix>/provider/<cid>/<peerId>`) are written
 * and deleted through the datastore, so the datastore counts them, per peer, and stores a peer's record
 * beyond the cap as if it had (the sender cannot tell; the record is simply not kept). This node's own
 * records are never capped. The counts are rebuilt from the stored records when the datastore opens.
 */
import { logger } from '@libp2p/logger';
import { LevelDatastore } from 'datastore-level';

const log = logger('trustix:provider-cap');

/** A datastore key (interface-datastore's Key, through datastore-level's own types). */
type Key = Parameters<LevelDatastore['put']>[0];

export interface ProviderCapInit {
  /** Datastore prefixes of the DHTs whose records are capped (kad-dht's `datastorePrefix`). */
  readonly prefixes: readonly string[];
  /** Most provider records kept per peer, over all CIDs and DHTs. */
  readonly maxPerPeer: number;
  /** This node's PeerId (string): its own records are never capped. */
  readonly self?: string;
}

export class ProviderCappedDatastore extends LevelDatastore {
  private readonly cap: ProviderCapInit;
  private readonly records = new Map<string, number>();
  /** Records refused so far (for tests and logs). */
  refused = 0;

  constructor(db: ConstructorParameters<typeof LevelDatastore>[0], cap: ProviderCapInit) {
    super(db);
    this.cap = cap;
  }

  override async open(): Promise<void> {
    await super.open();
    this.records.clear();
    for (const prefix of this.cap.prefixes)
      for await (const key of this.queryKeys({ prefix: `${prefix}/provider/` })) {
        const peer = this.providerOf(key);
        if (peer !== undefined) this.records.set(peer, (this.records.get(peer) ?? 0) + 1);
      }
  }

  override async put(key: Key, value: Uint8Array, options?: Parameters<LevelDatastore['put']>[2]) {
    const peer = this.providerOf(key);
    if (peer === undefined || peer === this.cap.self) return super.put(key, value, options);
    if (await this.has(key)) return super.put(key, value, options); // a refresh: no new record
    const held = this.records.get(peer) ?? 0;
    if (held >= this.cap.maxPerPeer) {
      if (this.refused++ % 1000 === 0) log('peer %s holds %d provider records: no more kept', peer, held);
      return key;
    }
    const stored = await super.put(key, value, options);
    this.records.set(peer, held + 1);
    return stored;
  }

  override async delete(key: Key, options?: Parameters<LevelDatastore['delete']>[1]): Promise<void> {
    const peer = this.providerOf(key);
    if (peer === undefined || !(await this.has(key))) return super.delete(key, options);
    await super.delete(key, options);
    const held = (this.records.get(peer) ?? 1) - 1;
    if (held > 0) this.records.set(peer, held);
    else this.records.delete(peer);
  }

  /** Provider records of `peer` (a PeerId string) held now. */
  recordsOf(peer: string): number {
    return this.records.get(peer) ?? 0;
  }

  /** The peer a provider record's key names, or undefined for any other key. */
  private providerOf(key: Key): string | undefined {
    const text = key.toString();
    for (const prefix of this.cap.prefixes) {
      if (!text.startsWith(`${prefix}/provider/`)) continue;
      const parts = text.slice(prefix.length + '/provider/'.length).split('/');
      return parts.length === 2 && parts[1] !== '' ? parts[1] : undefined;
    }
    return undefined;
  }
}
