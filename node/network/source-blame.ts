/**
 * Who is to blame when a source's tiles fail against our verified checkpoint of a log (docs/SECURITY.md,
 * "A forking builder"). Bytes that do not parse, oversized bodies and withheld tiles are the source's
 * fault: it is banned as a source of that log. Well-formed tiles that do not verify ('invalid') may be
 * honest: when the log's builder signed two histories, a peer holding the other branch serves tiles that
 * fail against our root. So before banning for that, the peer is asked for its own signed checkpoint of
 * the log (once, within `checkpointTimeoutMs`), which is handed to the checkpoint monitor like gossip from
 * that peer: when it verifies with the log key and conflicts with what we hold (same size and another
 * root, or a root our verified tree disagrees with), the monitor makes fork evidence (the log becomes
 * forked, the evidence is gossiped) and the peer is not banned: it proved the builder at fault. A
 * checkpoint larger than our verified tree and of no size we hold cannot be checked so: then the peer's
 * hash tiles are checked against its own signed root (protocol/tile-hash-reader.ts), and give its root
 * at the size of each smaller checkpoint we hold (largest first, at most `maxCompared`); one that differs
 * is a fork (two signed checkpoints that cannot both hold): the evidence is made from the peer's tiles,
 * recorded and spread (`publishEvidence`), and the peer is not banned. With no such proof (no checkpoint,
 * an invalid one, one consistent with what we hold, or tiles that do not match its own checkpoint: a
 * lie) the peer is banned as before.
 *
 * Bounded: at most `maxChecks` checks in flight (beyond, a failure is banned without one), one per
 * (peer, log) at a time; each within `checkpointTimeoutMs`, reading the few tiles of the right edge and
 * of one consistency path per compared checkpoint.
 */
import { logger } from '@libp2p/logger';
import { openCheckpoint } from '../../protocol/checkpoint.ts';
import { buildEvidence, evidenceProofFromHashes, evidenceProofIds } from '../../protocol/evidence.ts';
import { formatCheckpointMessage } from '../../protocol/gossip-message.ts';
import type { LogKey } from '../../protocol/keys.ts';
import { type Hash, hashesEqual, treeHash } from '../../protocol/merkle.ts';
import { type TileReader, tileHashReader } from '../../protocol/tile-hash-reader.ts';
import type { HashTile } from '../../protocol/tile-path.ts';
import type { HistoryRecord } from '../monitor/checkpoint-records.ts';
import type { CheckpointVerdict } from '../monitor/checkpoint-verdict.ts';
import type { SourceFailedEvent, TileSource } from '../sync/tile-source.ts';

const log = logger('trustix:source-blame');

/** Failures that are the source's fault whatever the log's builder did. */
const FAULTS: ReadonlySet<string> = new Set(['malformed', 'oversized', 'withheld']);

export interface SourceBlameComponents {
  /** The source named `id` (a PeerId string), to ask for its checkpoint; undefined when not a peer. */
  sourceOf(id: string): TileSource | undefined;
  /** The key of a followed log (to name it to the monitor), or undefined. */
  keyOf(logId: string): LogKey | undefined;
  /** The checkpoint monitor (node/monitor/checkpoint-monitor.ts): its gossip validator, the checkpoints held. */
  readonly monitor: {
    validate(bytes: Uint8Array, from?: string): Promise<CheckpointVerdict>;
    held(logId: string): Promise<readonly HistoryRecord[]>;
  };
  /** Records and spreads fork evidence made here (Gossip.publishEvidence); throws when it is refused. */
  publishEvidence(bytes: Uint8Array): Promise<void>;
  /** Bans `id` as a source of `logId` (node/network/peer-sources.ts). */
  ban(id: string, logId: string, reason: string): void;
}

export interface SourceBlameInit {
  /** Time for the source to give its checkpoint, in ms. Default 10,000. */
  readonly checkpointTimeoutMs?: number;
  /** Checks in flight at once; beyond, an invalid source is banned unchecked. Default 16. */
  readonly maxChecks?: number;
  /** Checkpoints we hold compared with a larger one of the source's, by its tiles. Default 4. */
  readonly maxCompared?: number;
}

/** What `judge` made of a failed source. */
export type Blame = 'banned' | 'fork' | 'not-blamed';

export class SourceBlame {
  private readonly components: SourceBlameComponents;
  private readonly checkpointTimeoutMs: number;
  private readonly maxChecks: number;
  private readonly maxCompared: number;
  /** `${peer} ${logId}` of the checks in flight. */
  private readonly checking = new Set<string>();

  constructor(components: SourceBlameComponents, init: SourceBlameInit = {}) {
    this.components = components;
    this.checkpointTimeoutMs = init.checkpointTimeoutMs ?? 10_000;
    this.maxChecks = init.maxChecks ?? 16;
    this.maxCompared = init.maxCompared ?? 4;
  }

  /** Judges a source a sync (or a lookup) dropped; bans it unless it proved the log forked. Never throws. */
  async judge(failure: SourceFailedEvent): Promise<Blame> {
    const { sourceId, logId, reason } = failure;
    if (FAULTS.has(reason)) return this.ban(failure);
    if (reason !== 'invalid') return 'not-blamed';
    const key = this.components.keyOf(logId);
    const source = this.components.sourceOf(sourceId);
    const check = `${sourceId} ${logId}`;
    if (this.checking.has(check)) return 'not-blamed'; // the check in flight decides
    if (key === undefined || source === undefined || this.checking.size >= this.maxChecks)
      return this.ban(failure);
    this.checking.add(check);
    try {
      if (await this.provesFork(key, source)) {
        log('source %s serves the other branch of the forked log %s: evidence, no ban', sourceId, logId);
        return 'fork';
      }
    } catch (err) {
      log('checking source %s for log %s: %s', sourceId, logId, err);
    } finally {
      this.checking.delete(check);
    }
    return this.ban(failure);
  }

  /** Whether the source's own signed checkpoint conflicts with what we hold (evidence was made). */
  private async provesFork(key: LogKey, source: TileSource): Promise<boolean> {
    const signal = AbortSignal.timeout(this.checkpointTimeoutMs);
    const note = await source.checkpoint(key.logId, { signal });
    if (note === undefined) return false;
    // Held before the source's note joins them: what it is to be compared with.
    const held = await this.components.monitor.held(key.logId);
    // formatCheckpointMessage verifies the note with the log key (throws when it does not).
    const verdict = await this.components.monitor.validate(
      formatCheckpointMessage(key.vkey, note),
      source.id,
    );
    // 'fork': the conflict is proven now, or the log was forked already and this is its other branch.
    if (verdict.outcome === 'fork') return true;
    return this.provesForkByTiles(key, source, note, held, signal);
  }

  /**
   * The source's checkpoint is larger than what the monitor could check it against: its tiles, checked
   * against its own signed root, give its root at each smaller size we hold a signed checkpoint of.
   * Throws when its tiles do not match its checkpoint (VerificationError) or do not come.
   */
  private async provesForkByTiles(
    key: LogKey,
    source: TileSource,
    note: Uint8Array,
    held: readonly HistoryRecord[],
    signal: AbortSignal,
  ): Promise<boolean> {
    const theirs = openCheckpoint(note, key.verifier);
    const compared = held
      .filter((h) => h.size > 0 && h.size < theirs.size)
      .sort((a, b) => b.size - a.size)
      .slice(0, this.maxCompared);
    if (compared.length === 0) return false;
    const hashes = tileHashReader(theirs.size, theirs.root, peerTiles(key.logId, source, signal));
    for (const ours of compared) {
      const root: Hash = await treeHash(ours.size, hashes);
      if (hashesEqual(root, ours.root)) continue;
      const ids = evidenceProofIds(ours.size, theirs.size);
      const proof = evidenceProofFromHashes(ours.size, theirs.size, await hashes.readHashes(ids));
      const evidence = buildEvidence(key.vkey, ours.note, note, proof);
      await this.components.publishEvidence(evidence.bytes);
      return true;
    }
    return false;
  }

  private ban(failure: SourceFailedEvent): Blame {
    const { sourceId, logId, reason } = failure;
    this.components.ban(sourceId, logId, `${reason} data for ${logId}`);
    return 'banned';
  }
}

/** The source's hash tiles of `logId`, as untrusted input for tileHashReader; a tile withheld throws. */
function peerTiles(logId: string, source: TileSource, signal: AbortSignal): TileReader {
  const cache = new Map<string, Uint8Array>();
  const name = (t: HashTile) => `${t.level}/${t.index}/${t.width}`;
  return {
    async readTiles(tiles: readonly HashTile[]): Promise<Uint8Array[]> {
      const wanted = tiles.filter((t) => !cache.has(name(t)));
      const bodies = wanted.length === 0 ? [] : await source.tiles(logId, wanted, { signal });
      wanted.forEach((t, i) => {
        const body = bodies[i];
        if (body === undefined) throw new Error(`tile ${name(t)} withheld under its own checkpoint`);
        cache.set(name(t), body);
      });
      return tiles.map((t) => cache.get(name(t))!);
    },
  };
}
