/**
 * What the sequencer of our own log (node/own-log/sequencer.ts) is given and its settings with their
 * defaults: apart from the sequencer so that those who set it (the own log, the node's settings in
 * node/assembly/trustix-node-init.ts) name them without importing its workings.
 */
import type { NoteSigner } from '../../protocol/vkey.ts';
import type { Database } from '../store/database.ts';
import { MAX_PATH_ENTRIES } from '../store/layout.ts';
import type { LogStore } from '../store/log-store.ts';
import type { Resolve } from './sequencer-batch.ts';
import type { SubmissionQueue } from './submission-queue.ts';

export interface SequencerInit {
  /** Longest a submission waits for its batch, in ms. Default 500. */
  readonly intervalMs?: number;
  /** Most queued submissions taken into one batch. Default 10,000. */
  readonly maxBatchSubmissions?: number;
  /** Longest back-off before retrying submissions that failed for a passing reason, in ms. Default 60,000. */
  readonly maxRetryDelayMs?: number;
  /** Store directory of entries. Default '/nix/store'. */
  readonly storeDir?: string;
  /**
   * Most entries (different fingerprints: rebuilds) the log takes for one store path; beyond it
   * submissions are refused (ERR_PATH_FULL), as followers abstain beyond their own cap. Default
   * MAX_PATH_ENTRIES (64); tests that play a hostile builder raise it.
   */
  readonly maxPathEntries?: number;
}

/** The settings a SequencerInit leaves out. */
export const SEQUENCER_DEFAULTS: Required<SequencerInit> = {
  intervalMs: 500,
  maxBatchSubmissions: 10_000,
  maxRetryDelayMs: 60_000,
  storeDir: '/nix/store',
  maxPathEntries: MAX_PATH_ENTRIES,
};

export interface SequencerComponents {
  readonly db: Database;
  readonly store: LogStore;
  readonly queue: SubmissionQueue;
  /** The log key, which signs checkpoints. */
  readonly signer: NoteSigner;
  /**
   * Turns drv and path submissions into their entries (fingerprints), one outcome per submission in
   * order. A refused submission is dropped from the queue and reported; one whose error is `retry`
   * (Nix busy or missing) stays queued and is tried again after a back-off.
   */
  resolve: Resolve;
}
