/**
 * The witness (docs/PROTOCOL.md, "Witness cosignatures"): on a node with a witness key and witnessing on,
 * every checkpoint of a log it follows fully is cosigned (C2SP tlog-cosignature, protocol/cosignature.ts)
 * once it is verified: the follower synced the log's tree to it (the tree verified against the
 * checkpoint's root and extending the copy held before), and the checkpoint monitor found every
 * checkpoint it saw of the log up to that size on that tree. A log with fork evidence is never cosigned
 * again. The cosigned note (the checkpoint as the log signed it plus this witness's line) is gossiped.
 */
import { logger } from '@libp2p/logger';
import { addCosignature, type WitnessSigner } from '../../protocol/cosignature.ts';
import { openNote } from '../../protocol/note.ts';
import type { CheckpointMonitor } from '../monitor/checkpoint-monitor.ts';
import type { LogStore } from '../store/log-store.ts';
import type { Gossip } from './gossip.ts';

const log = logger('trustix:witness');

export interface WitnessComponents {
  /** The verified copy of a followed log (Follower.get). */
  readonly store: (logId: string) => LogStore | undefined;
  readonly monitor: Pick<CheckpointMonitor, 'checkTree' | 'isForked'>;
  readonly gossip: Pick<Gossip, 'publishCosigned'>;
}

export class Witness {
  private readonly components: WitnessComponents;
  private readonly signer: WitnessSigner;
  /** Per log: the size last cosigned, so that a checkpoint is cosigned once. */
  private readonly cosigned = new Map<string, number>();

  constructor(components: WitnessComponents, signer: WitnessSigner) {
    this.components = components;
    this.signer = signer;
  }

  /**
   * Call when the follower synced `logId`: checks the monitor's checkpoints against the synced tree,
   * then cosigns and gossips its checkpoint. Returns the cosigned note, or undefined when there is
   * nothing (new) to cosign or the log is forked.
   */
  async synced(logId: string): Promise<Uint8Array | undefined> {
    const { store, monitor, gossip } = this.components;
    const tree = store(logId);
    const cp = tree?.checkpoint();
    if (tree === undefined || cp === undefined) return undefined;
    const check = await monitor.checkTree(logId, tree);
    if (check.evidence !== undefined || monitor.isForked(logId)) {
      log('log %s is forked: not cosigning', logId);
      return undefined;
    }
    if (cp.size <= (this.cosigned.get(logId) ?? -1)) return undefined;
    // The checkpoint exactly as the log signed it, with no other cosigner's line (we vouch for none).
    const bare = Buffer.concat([
      cp.note.subarray(0, Buffer.byteLength(cp.text, 'utf8')),
      Buffer.from(`\n— ${cp.signature.name} ${cp.signature.base64}\n`, 'utf8'),
    ]);
    const note = addCosignature(bare, openNote(bare, tree.key.verifier), this.signer, nowSeconds());
    this.cosigned.set(logId, cp.size);
    log('cosigned checkpoint %d of log %s', cp.size, logId);
    await gossip.publishCosigned(logId, tree.key.vkey, note);
    return note;
  }

  /** Forgets a log no longer followed. */
  forget(logId: string): void {
    this.cosigned.delete(logId);
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
