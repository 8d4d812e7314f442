/**
 * What the checkpoint monitor (node/monitor/checkpoint-monitor.ts) tells the node: a verdict per gossip message,
 * which the libp2p node maps once to gossipsub's TopicValidatorResult (accept -> Accept, ignore ->
 * Ignore, reject -> Reject, which costs the sender peer score), and events for what changed.
 */
import type { SignedCheckpoint } from '../../protocol/checkpoint.ts';
import type { Evidence } from '../../protocol/evidence.ts';

export type GossipDecision = 'accept' | 'ignore' | 'reject';
/** 'first': the first checkpoint seen of the log; 'pending': not yet checked against what we hold. */
export type Consistency = 'verified' | 'first' | 'pending';

/**
 * Outcomes of gossip about logs nobody here follows that the node will not take now (ignore): busy (the
 * validation queue is full), over-budget (the sender's or the node's budget of such messages is spent,
 * node/monitor/gossip-budget.ts; `blame` when it was the sender's, which costs it gossip score).
 */
export type Throttled = 'busy' | 'over-budget';

/**
 * Outcomes: malformed (reject: not a message, or a bad signature); duplicate, old (ignore: nothing new);
 * capacity (ignore: a new log while the table is full of logs that may not be evicted); error (ignore:
 * our own failure, not the sender's); busy, over-budget (ignore, see Throttled); bad-cosignature (ignore:
 * a cosignature line by a known witness that does not verify or is dated in the future; ignored, not
 * rejected, since a peer that does not know that witness passes such lines on in good faith); new
 * (accept); cosigned (accept: a known checkpoint with cosignatures new here, kept); relayed (accept: a
 * known checkpoint with cosignature lines this node cannot verify or does not keep, passed on within the
 * gossip budget); fork (accept: inconsistent with what we hold).
 */
export interface CheckpointVerdict {
  readonly decision: GossipDecision;
  readonly outcome:
    | 'malformed'
    | 'duplicate'
    | 'old'
    | 'capacity'
    | 'error'
    | Throttled
    | 'bad-cosignature'
    | 'new'
    | 'cosigned'
    | 'relayed'
    | 'fork';
  readonly logId?: string;
  readonly size?: number;
  readonly consistency?: Consistency;
  /** Evidence made now (a fork of a log not yet marked forked). */
  readonly evidence?: Evidence;
  readonly error?: Error;
  /** Over-budget because of the sender's own budget: penalise it. */
  readonly blame?: boolean;
  /** Cosignatures kept from this message (outcomes new and cosigned). */
  readonly cosignatures?: number;
}

/**
 * Outcomes: invalid (reject); known (ignore: the log is forked already); capacity, error, busy,
 * over-budget (ignore); forked (accept).
 */
export interface EvidenceVerdict {
  readonly decision: GossipDecision;
  readonly outcome: 'invalid' | 'known' | 'capacity' | 'error' | Throttled | 'forked';
  readonly logId?: string;
  readonly evidence?: Evidence;
  readonly error?: Error;
  readonly blame?: boolean;
}

export interface CheckpointEvent {
  readonly logId: string;
  readonly vkey: string;
  readonly checkpoint: SignedCheckpoint;
  readonly consistency: Consistency;
  /** The peer that gossiped it. */
  readonly from?: string;
}

/**
 * A log's newest checkpoint moved (node/monitor/quorum-gate.ts, the quorum gate): every new
 * checkpoint of a log without a witness quorum, and for a log with one, the largest checkpoint carrying
 * the quorum, once it does. Followers move only on these.
 */
export interface NewestEvent {
  readonly logId: string;
  readonly vkey: string;
  /** The kept note: the log's signature and the verified cosignatures. */
  readonly checkpoint: SignedCheckpoint;
  /** Valid cosignatures by the log's quorum witnesses (0 for a log without a quorum). */
  readonly cosigners: number;
  readonly from?: string;
}

export interface ForkEvent {
  readonly logId: string;
  readonly vkey: string;
  readonly evidence: Evidence;
  /** 'made' here (gossip it on EVIDENCE_TOPIC) or 'received' (gossip forwards it already). */
  readonly source: 'made' | 'received';
  readonly from?: string;
}

export interface CheckpointMonitorEvents {
  checkpoint: CustomEvent<CheckpointEvent>;
  newest: CustomEvent<NewestEvent>;
  fork: CustomEvent<ForkEvent>;
}
