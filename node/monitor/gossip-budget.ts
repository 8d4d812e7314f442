/**
 * The budget of gossip news about logs this node neither follows nor holds (docs/SECURITY.md, "Keyless
 * peers"). Anyone can make a key and sign valid checkpoints with it, so validity says nothing about
 * volume: each accepted checkpoint or evidence document of such a log spends a token from its sender's
 * bucket and from the node's overall bucket (token buckets: `perSecond` refill, `burst` capacity). With
 * either empty the message is ignored (not stored, not forwarded); an empty *peer* bucket also blames
 * the peer, which the gossip module turns into a negative application-specific score. A message about a
 * new log refused for the node's sake (overall budget spent, validation queue full) still costs its
 * sender a token: otherwise a crowd of flooders that keeps the overall bucket empty or the queue full
 * would never empty their own buckets, and none would ever be blamed.
 */

export interface RateLimit {
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Most tokens held (the largest burst). */
  readonly burst: number;
}

/** Default per sending peer: 2 per second, bursts of 20. */
export const DEFAULT_PEER_BUDGET: RateLimit = { perSecond: 2, burst: 20 };
/** Default for all peers together: 10 per second, bursts of 100. */
export const DEFAULT_OVERALL_BUDGET: RateLimit = { perSecond: 10, burst: 100 };

/** Peers tracked before idle (full) buckets are forgotten. */
const MAX_TRACKED_PEERS = 1024;

export type BudgetResult = 'ok' | 'peer' | 'overall';

interface Bucket {
  tokens: number;
  at: number;
}

export class GossipBudget {
  private readonly peer: RateLimit;
  private readonly overall: RateLimit;
  private readonly now: () => number;
  private readonly peers = new Map<string, Bucket>();
  private readonly total: Bucket;

  constructor(
    peer: RateLimit = DEFAULT_PEER_BUDGET,
    overall: RateLimit = DEFAULT_OVERALL_BUDGET,
    now = Date.now,
  ) {
    for (const [what, r] of [
      ['peer budget', peer],
      ['overall budget', overall],
    ] as const)
      if (!(r.perSecond >= 0 && r.burst >= 1)) throw new RangeError(`${what}: perSecond >= 0 and burst >= 1`);
    this.peer = peer;
    this.overall = overall;
    this.now = now;
    this.total = { tokens: overall.burst, at: now() };
  }

  /**
   * Spends one token of `from` and one of the whole node. 'peer': the sender overspent (blame it);
   * 'overall': the node as a whole did (nobody is blamed now: honest relays forward what they accepted;
   * the refused attempt still spends the sender's token, so a sender beyond its own rate gets 'peer').
   */
  spend(from: string): BudgetResult {
    const at = this.now();
    const bucket = this.bucketOf(from, at);
    if (bucket.tokens < 1) return 'peer';
    bucket.tokens--;
    refill(this.total, this.overall, at);
    if (this.total.tokens < 1) return 'overall';
    this.total.tokens--;
    return 'ok';
  }

  /**
   * What spend(from) would answer, spending nothing when it is 'ok' or 'peer': lets a receiver refuse
   * before the costly checks of a message that would be over budget anyway. An 'overall' refusal costs
   * the sender a token (refused): the receiver refuses the message, spend is not called for it.
   */
  check(from: string): BudgetResult {
    const at = this.now();
    const known = this.peers.get(from);
    if (known !== undefined) {
      refill(known, this.peer, at);
      if (known.tokens < 1) return 'peer';
    }
    refill(this.total, this.overall, at);
    if (this.total.tokens >= 1) return 'ok';
    return this.refused(from) === 'peer' ? 'peer' : 'overall';
  }

  /**
   * A message about a new log from `from` refused for the node's sake (overall budget spent, validation
   * queue full) still costs `from` a token; 'peer' once it has none left (blame it), else 'charged'.
   */
  refused(from: string): 'peer' | 'charged' {
    const bucket = this.bucketOf(from, this.now());
    if (bucket.tokens < 1) return 'peer';
    bucket.tokens--;
    return 'charged';
  }

  /** The bucket of `from`, refilled to `at`; a new sender starts with a full one. */
  private bucketOf(from: string, at: number): Bucket {
    let bucket = this.peers.get(from);
    if (bucket === undefined) {
      if (this.peers.size >= MAX_TRACKED_PEERS) this.forgetIdle(at);
      bucket = { tokens: this.peer.burst, at };
      this.peers.set(from, bucket);
    }
    refill(bucket, this.peer, at);
    return bucket;
  }

  private forgetIdle(at: number): void {
    for (const [peer, bucket] of this.peers) {
      refill(bucket, this.peer, at);
      if (bucket.tokens >= this.peer.burst) this.peers.delete(peer);
    }
    // Every tracked peer is busy: forget the oldest, the map stays bounded.
    if (this.peers.size >= MAX_TRACKED_PEERS) this.peers.delete(this.peers.keys().next().value!);
  }
}

function refill(bucket: Bucket, limit: RateLimit, at: number): void {
  bucket.tokens = Math.min(limit.burst, bucket.tokens + ((at - bucket.at) / 1000) * limit.perSecond);
  bucket.at = at;
}
