/**
 * The check of a light log's pending checkpoints (docs/SECURITY.md "Light logs"): the few hash tiles it
 * needs fetched from the log's sources into a RemoteTree verified against the newest pending root
 * (node/sync/remote-tree.ts), against which the checkpoint monitor checks every earlier checkpoint in its
 * history (CheckpointMonitor.checkTree). Apart from the light logs (node/network/light-logs.ts), which
 * keep the logs and decide when to check (one check at a time per log, retries), because fetching and
 * checking a tree is a concern of its own; stop() aborts the checks under way.
 */
import { logger } from '@libp2p/logger';
import { openCheckpoint, type SignedCheckpoint } from '../../protocol/checkpoint.ts';
import type { LogKey } from '../../protocol/keys.ts';
import { EMPTY_ROOT, treeHashFromHashes, treeHashIds } from '../../protocol/merkle.ts';
import { StoppedError } from '../errors.ts';
import type { VerifiedTree } from '../monitor/tree-consistency.ts';
import { RemoteTree } from '../sync/remote-tree.ts';
import { SourcePool } from '../sync/source-pool.ts';
import type { LightLog } from './light-log.ts';
import type { LightLogsComponents, LightLogsSettings } from './light-logs-init.ts';

const log = logger('trustix:light');

export class LightLogChecks {
  private readonly components: LightLogsComponents;
  private readonly init: LightLogsSettings;
  private abort = new AbortController();

  constructor(components: LightLogsComponents, init: LightLogsSettings) {
    this.components = components;
    this.init = init;
  }

  start(): void {
    this.abort = new AbortController();
  }

  /** Aborts the checks under way. */
  stop(): void {
    this.abort.abort(new StoppedError('light logs stopped'));
  }

  /** Checks the log's newest pending checkpoint, and with it the earlier ones, unless the log is forked. */
  async run(l: LightLog): Promise<void> {
    const { monitor } = this.components;
    const { logId, key } = l.followed;
    const pending = await monitor.pendingConsistency(logId);
    if (pending !== undefined && !monitor.isForked(logId)) {
      const target = pending.pending.at(-1)!;
      const cp = openCheckpoint(target.note, key.verifier);
      const sources = await this.components.sourcesFor(logId, l.hint);
      const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.init.checkTimeoutMs)]);
      const pool = new SourcePool(
        logId,
        sources,
        this.init.pool,
        (e) => this.components.onSourceFailed(e),
        signal,
        key.verifier,
      );
      const tree = new RemoteTree(cp.size, cp.root, pool);
      const result = await monitor.checkTree(logId, remoteVerifiedTree(key, cp, tree));
      // The peers that served the tree hold the log: good candidates for its lookups (a mirror's URL is
      // no PeerId and is passed over there).
      for (const id of pool.active()) this.components.lookups.hint(logId, id);
      log(
        'light log %s: checkpoint %d checked (%d confirmed%s)',
        logId,
        cp.size,
        result.confirmed,
        result.evidence ? ', fork' : '',
      );
    }
  }
}

/** A RemoteTree as the checkpoint monitor checks trees: roots of its prefixes from its verified tiles. */
function remoteVerifiedTree(key: LogKey, head: SignedCheckpoint, tree: RemoteTree): VerifiedTree {
  return {
    key,
    checkpoint: () => head,
    async rootAt(size: number) {
      if (size === 0) return EMPTY_ROOT;
      if (size === tree.size) return tree.root;
      return treeHashFromHashes(size, await tree.readHashes(treeHashIds(size)));
    },
    readHashes: (ids) => tree.readHashes(ids),
  };
}
