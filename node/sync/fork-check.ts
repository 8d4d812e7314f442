/**
 * How a sync (node/sync/log-sync.ts, step 2) checks a signed checkpoint against a tree it holds, and
 * what it makes of one that disagrees: the log key signed two histories, so the sync fails with
 * LogForkError carrying both notes and the evidence (a consistency proof from the larger tree) that the
 * node stores and gossips. Apart from the sync because the fork is a verdict on the log, with evidence
 * of its own to build, not a step of fetching and storing.
 */
import { logger } from '@libp2p/logger';
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import {
  buildEvidence,
  type Evidence,
  evidenceProofFromHashes,
  evidenceProofIds,
} from '../../protocol/evidence.ts';
import { type HashReader, hashesEqual } from '../../protocol/merkle.ts';
import { LogForkError } from '../errors.ts';
import type { LogStore } from '../store/log-store.ts';

const log = logger('trustix:sync');

/** Checks a checkpoint no larger than the local tree against it (fork: LogForkError). */
export async function checkHeld(store: LogStore, cp: SignedCheckpoint): Promise<void> {
  if (hashesEqual(await store.rootAt(cp.size), cp.root)) return;
  throw await forkError(store, cp, store.checkpoint()!, store);
}

/** The fork error for checkpoints `a` (smaller or equal) and `b`, with evidence from b's tree. */
export async function forkError(
  store: LogStore,
  a: SignedCheckpoint,
  b: SignedCheckpoint,
  bTree: HashReader,
): Promise<LogForkError> {
  let evidence: Evidence | undefined;
  try {
    const ids = evidenceProofIds(a.size, b.size);
    const hashes = ids.length === 0 ? [] : await bTree.readHashes(ids);
    const proof = evidenceProofFromHashes(a.size, b.size, hashes);
    evidence = buildEvidence(store.key.vkey, a.note, b.note, proof);
  } catch (err) {
    log.error('log %s: fork found, but no evidence could be built: %s', store.logId, err);
  }
  log.error('log %s is forked: sizes %d and %d disagree', store.logId, a.size, b.size);
  return new LogForkError(store.logId, [a.note, b.note], evidence);
}
