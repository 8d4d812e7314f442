/**
 * What a Trustix node (node/assembly/trustix-node.ts) is given: its settings (TrustixNodeInit, which takes in the
 * user side's and the network side's), the defaults they fall back on (DEFAULT_HTTP_PORT, NODE_DATABASE),
 * and the checkpoint monitor's witness settings derived from them. Apart from the node because those who
 * configure one (the CLI's effective configuration, the bootstrap node, the demo) need these and none of
 * its workings.
 */
import { parseWitnessVkey, type WitnessKey } from '../../protocol/cosignature.ts';
import type { HttpServerInit } from '../http/http-server-init.ts';
import type { CheckpointMonitorInit } from '../monitor/checkpoint-monitor.ts';
import type { WitnessQuorum } from '../monitor/cosignatures.ts';
import type { NixStoreInit } from '../own-log/nix-store.ts';
import type { SequencerInit } from '../own-log/sequencer-init.ts';
import type { SpoolInit } from '../own-log/spool.ts';
import type { AllocatorPolicyInit } from '../runtime/allocator-policy.ts';
import type { MemoryReleaserInit } from '../runtime/memory-releaser.ts';
import type { DatabaseInit } from '../store/database.ts';
import type { NetworkSideInit } from './network-side-init.ts';
import type { UserSideInit } from './user-side.ts';

/** The HTTP port a node listens on by default (on 127.0.0.1). */
export const DEFAULT_HTTP_PORT = 8565;

/**
 * A node's LevelDB memory by default: LevelDB's own sizes, not openDatabase's larger ones. A node runs
 * for months and its big writes are syncs of followed logs, which store whole steps at once; the larger
 * buffers cost it about 40-70 MB of resident memory (glibc keeps what LevelDB frees) for little gain.
 */
export const NODE_DATABASE: Required<DatabaseInit> = {
  writeBufferSize: 4 * 1024 * 1024,
  // Half LevelDB's own 8 MiB: reads are point reads of tiles, bundles and path records, which the OS's
  // file cache serves as well; measured with the memory benchmark's figures (docs/ARCHITECTURE.md).
  cacheSize: 4 * 1024 * 1024,
  // LevelDB maps its open table files: with its 1,000, a node following 3 logs of 1,000,000 entries had
  // 242 MB of them resident at rest (RssFile; 56 MB anonymous). 64 tables of ~2 MB bound it; a read of
  // a table not open costs an open and its index block.
  maxOpenFiles: 64,
  // LevelDB's own. Larger tables put more mapped pages in the resident set while syncing: 3 logs of
  // 100,000 entries peaked at 206 MB with 8 MiB tables (141 MB of it file pages, 80 MB of tables)
  // against 170 MB (86 MB file) with 2 MiB, and took more CPU (bench/memory.ts, docs/ARCHITECTURE.md).
  maxFileSize: 2 * 1024 * 1024,
};

/**
 * Settings of a node; the user side's (vote, upstreams, substituter, statistics) are UserSideInit's, the
 * network side's (follower, gossip, providers, tiles, bans) NetworkSideInit's.
 */
export interface TrustixNodeInit extends UserSideInit, Omit<NetworkSideInit, 'p2p' | 'storeDir'> {
  /** The data directory (keys, LevelDB, socket); a `node` needs it initialised (see initDataDir). */
  readonly dataDir: string;
  /** Default 'node'. */
  readonly role?: 'node' | 'bootstrap';
  /** HTTP server settings (default 127.0.0.1:8565), or false for none. */
  readonly http?: HttpServerInit | false;
  /** libp2p settings (default: listen on TCP 8566, no bootstrap peers), or false for no network. */
  readonly p2p?: NetworkSideInit['p2p'] | false;
  /** The Nix store directory. Default '/nix/store'. */
  readonly storeDir?: string;
  /** LevelDB's memory. Default NODE_DATABASE (a builder publishing in bulk may want more). */
  readonly database?: DatabaseInit;
  readonly sequencer?: SequencerInit;
  readonly nix?: NixStoreInit;
  /**
   * The spool the post-build hook writes to (node/own-log/spool.ts); default `<dataDir>/spool`. False
   * for none (a bootstrap node never has one).
   */
  readonly spool?: Partial<Omit<SpoolInit, 'storeDir'>> | false;
  readonly monitor?: CheckpointMonitorInit;
  /**
   * Witness: cosign every checkpoint of the logs this node follows once verified, and gossip the cosigned
   * notes (docs/PROTOCOL.md, "Witness cosignatures"). Needs the data directory's witness key
   * (initWitnessKey; `trustix init` makes it). Default false.
   */
  readonly witness?: boolean;
  /**
   * Witness quorums by log ID: a followed log listed here moves only to checkpoints carrying `quorum`
   * valid cosignatures by its `witnesses` (witness vkeys; docs/SECURITY.md). Default none.
   */
  readonly witnessQuorums?: Readonly<
    Record<string, { readonly witnesses: readonly string[]; readonly quorum: number }>
  >;
  /** When memory goes back to the OS after a burst of work, or false never to release it. */
  readonly memory?: MemoryReleaserInit | false;
  /**
   * How V8 and glibc size their heaps in this process (node/runtime/allocator-policy.ts), or false to
   * leave their defaults. Applied once per process, when the node starts.
   */
  readonly allocator?: AllocatorPolicyInit | false;
}

/**
 * The monitor's witness settings: the quorums by log ID, and every witness whose cosignatures it keeps
 * (those the quorums list, and this node's own).
 */
export function witnessSettings(
  init: TrustixNodeInit,
  own: WitnessKey | undefined,
): Pick<CheckpointMonitorInit, 'witnesses' | 'quorums'> {
  const quorums = new Map<string, WitnessQuorum>();
  const known = new Map<string, WitnessKey>(own ? [[own.vkey, own]] : []);
  for (const [logId, q] of Object.entries(init.witnessQuorums ?? {})) {
    const witnesses = q.witnesses.map(parseWitnessVkey);
    if (!Number.isSafeInteger(q.quorum) || q.quorum < 1 || q.quorum > witnesses.length)
      throw new RangeError(`the witness quorum of log ${logId} must be 1 to ${witnesses.length}`);
    for (const w of witnesses) known.set(w.vkey, w);
    quorums.set(logId, { witnesses, quorum: q.quorum });
  }
  return { witnesses: [...known.values()], quorums };
}
