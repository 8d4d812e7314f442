/**
 * The vote for store paths, as the node takes it: for a path's hash part, one LogVote per followed log
 * (what its verified local copy holds for the path), decided by the configured chain
 * (node/vote/decider.ts), and remembered.
 *
 * Decisions are cached in an LRU bounded by count and by estimated bytes (a decision can hold a 64 KiB
 * fingerprint per log; one larger than the whole budget is not cached). A cached decision records, for every followed log, the size
 * of its verified copy and whether it was forked when the votes were read; it is used again only while
 * all of those still hold (and the set of followed logs, names and weights included, is unchanged).
 * So a log that grows or is proven forked invalidates exactly the decisions it could change, at the
 * cost of a few comparisons per lookup, and no decision outlives the data it was taken on.
 * Concurrent requests for one path share one computation.
 */
import { logger } from '@libp2p/logger';
import { LRUCache } from 'lru-cache';
import { parseHashPart, parseStorePath } from '../../protocol/store-path.ts';
import type { FollowedLog, FollowedLogs } from '../store/followed-logs.ts';
import { MAX_PATH_ENTRIES } from '../store/layout.ts';
import type { LogStore } from '../store/log-store.ts';
import type { DeciderChain, Decision, LogVote } from './decider.ts';

const log = logger('trustix:decisions');
const decoder = new TextDecoder();

/**
 * What a light log (followed without a copy, node/network/light-logs.ts) answers for a path: its verified
 * entries (none: the log is silent), `tooMany` (it abstains, like an overfull log), or `unavailable` (no
 * provider answered: silent, and the decision is not cached).
 */
export type LightAnswer =
  | { readonly kind: 'entries'; readonly entries: readonly { index: number; entry: string }[] }
  | { readonly kind: 'tooMany' }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** The light logs, as the vote sees them. */
export interface LightVotes {
  /** Whether the followed log is followed light. */
  isLight(logId: string): boolean;
  /** The size of the light log's newest verified checkpoint (0: none yet). */
  verifiedSize(logId: string): number;
  /** The log's entries for the path in its newest verified checkpoint, looked up with proofs. */
  entries(logId: string, hashPart: string): Promise<LightAnswer>;
}

export interface DecisionsComponents {
  readonly followed: FollowedLogs;
  /** The verified local copy of a followed log (undefined while it has none). */
  store(logId: string): LogStore | undefined;
  /** Whether the log is proven forked. */
  isForked(logId: string): boolean;
  readonly chain: DeciderChain;
  /** The light logs' lookups. Default: every followed log is full. */
  readonly light?: LightVotes;
  /**
   * Told of every decision answered: 'computed' (the votes read and the chain run) or 'cached' (a cache
   * hit). Callers joining a computation already running are not told. For metrics; must be cheap.
   */
  onDecision?(source: 'computed' | 'cached', decision: PathDecision): void;
}

export interface DecisionsInit {
  /** Decisions kept in memory. Default 100,000. */
  readonly maxCached?: number;
  /**
   * Bytes the cached decisions may take, as estimated by decisionBytes. Default 32 MiB: a decision is
   * usually a few hundred bytes, but its fingerprints are up to 64 KiB each (a log's entry), one per log.
   */
  readonly maxCachedBytes?: number;
}

/**
 * An upper estimate of a decision's memory: its strings at 2 bytes a character (UTF-16 at worst) plus a
 * fixed cost per object, counting each fingerprint once per place it appears (they are usually shared).
 */
export function decisionBytes(d: PathDecision): number {
  const text = (s: string | undefined) => 2 * (s?.length ?? 0);
  let n = 512 + text(d.fingerprint) + text(d.storePath);
  for (const v of d.votes) {
    n += 128 + text(v.log);
    for (const f of v.fingerprints) n += 16 + text(f);
  }
  for (const m of d.mismatches) n += 64 + text(m.fingerprint);
  for (const a of d.abstentions) for (const f of a.fingerprints) n += 16 + text(f);
  for (const t of d.tally) n += 64 + text(t.fingerprint) + 16 * t.logs.length;
  for (const r of d.reasons) n += 32 + text(r);
  return n;
}

/** A decision for one store path hash part. */
export interface PathDecision extends Decision {
  readonly hashPart: string;
  /** The store path the decided fingerprint names (undefined when undecided). */
  readonly storePath: string | undefined;
  readonly votes: readonly LogVote[];
  /** Names of the logs whose votes came from light lookups (docs/CLI.md, `decide --json`). */
  readonly light: readonly string[];
  /** Of those, the logs no provider answered for: silent this time; the decision is not cached. */
  readonly unanswered: readonly string[];
}

interface Cached {
  readonly decision: PathDecision;
  readonly generation: number;
  /** Per followed log (in `logs` order): the verified size the votes were read at, -1 when forked. */
  readonly sizes: readonly number[];
  /** decisionBytes of the decision, with the sizes. */
  readonly bytes: number;
}

export class Decisions {
  private readonly components: DecisionsComponents;
  private readonly cache: LRUCache<string, Cached>;
  private readonly inflight = new Map<string, Promise<PathDecision>>();
  private logs: readonly FollowedLog[] = [];
  private generation = 0;
  private readonly onChange = () => this.reload();

  constructor(components: DecisionsComponents, init: DecisionsInit = {}) {
    this.components = components;
    this.cache = new LRUCache({
      max: init.maxCached ?? 100_000,
      maxSize: init.maxCachedBytes ?? 32 * 1024 * 1024,
      sizeCalculation: (c) => c.bytes,
    });
  }

  start(): void {
    this.reload();
    this.components.followed.addEventListener('followed', this.onChange);
    this.components.followed.addEventListener('unfollowed', this.onChange);
  }

  stop(): void {
    this.components.followed.removeEventListener('followed', this.onChange);
    this.components.followed.removeEventListener('unfollowed', this.onChange);
    this.cache.clear();
  }

  /**
   * The decision for the path with this hash part. With `storePath` (a full path in the same store),
   * entries naming another path with the same hash part are not counted. MalformedError for a bad
   * hash part or path.
   */
  decide(hashPart: string, storePath?: string): Promise<PathDecision> {
    parseHashPart(hashPart);
    if (storePath !== undefined && parseStorePath(storePath).hashPart !== hashPart)
      throw new RangeError('storePath does not have this hash part');
    const key = storePath ?? hashPart;
    const hit = this.cache.get(key);
    if (hit !== undefined && this.isCurrent(hit)) {
      this.components.onDecision?.('cached', hit.decision);
      return Promise.resolve(hit.decision);
    }
    const running = this.inflight.get(key);
    if (running !== undefined) return running;
    const work = this.compute(hashPart, storePath).finally(() => this.inflight.delete(key));
    this.inflight.set(key, work);
    return work;
  }

  /** What the cache holds: decisions and their estimated bytes (at most maxCachedBytes). */
  cacheSize(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.calculatedSize };
  }

  /** Drops every cached decision (e.g. after the decider configuration changed). */
  clear(): void {
    this.generation++;
    this.cache.clear();
  }

  private reload(): void {
    this.logs = this.components.followed.list();
    this.generation++;
  }

  private snapshot(logs: readonly FollowedLog[]): number[] {
    return logs.map((f) => this.sizeOf(f.logId));
  }

  /** The verified size a log's vote is read at: its copy's, or a light log's checkpoint's; -1 when forked. */
  private sizeOf(logId: string): number {
    if (this.components.isForked(logId)) return -1;
    const { light } = this.components;
    if (light?.isLight(logId)) return light.verifiedSize(logId);
    return this.components.store(logId)?.size ?? 0;
  }

  private isCurrent(cached: Cached): boolean {
    if (cached.generation !== this.generation) return false;
    const { logs } = this;
    for (let i = 0; i < logs.length; i++) {
      if (this.sizeOf(logs[i]!.logId) !== cached.sizes[i]) return false;
    }
    return true;
  }

  private async compute(hashPart: string, storePath: string | undefined): Promise<PathDecision> {
    const generation = this.generation;
    const logs = this.logs;
    // Taken before reading: a log that grows meanwhile makes this entry stale, never wrongly fresh.
    const sizes = this.snapshot(logs);
    const read = await Promise.all(logs.map((f) => this.voteOf(f, hashPart, storePath)));
    const votes = read.map((r) => r.vote);
    const decision = await this.components.chain.decide(votes);
    const path = decision.fingerprint === undefined ? undefined : decision.fingerprint.split(';', 3)[1];
    const light = read.flatMap((r) => (r.light ? [r.vote.log] : []));
    const unanswered = read.flatMap((r) => (r.unavailable ? [r.vote.log] : []));
    const result: PathDecision = { ...decision, hashPart, storePath: path, votes, light, unanswered };
    // A light log no provider answered for is silent now, maybe not later: such a decision is not kept.
    if (generation === this.generation && unanswered.length === 0)
      this.cache.set(storePath ?? hashPart, {
        decision: result,
        generation,
        sizes,
        bytes: decisionBytes(result) + 8 * sizes.length,
      });
    log('%s: %s', hashPart, decision.fingerprint === undefined ? 'undecided' : `by ${decision.decider}`);
    this.components.onDecision?.('computed', result);
    return result;
  }

  private async voteOf(
    f: FollowedLog,
    hashPart: string,
    storePath: string | undefined,
  ): Promise<{ vote: LogVote; light: boolean; unavailable?: boolean }> {
    const vote = {
      log: f.name,
      logId: f.logId,
      weight: f.weight,
      forked: this.components.isForked(f.logId),
    };
    const { light } = this.components;
    let texts: string[];
    if (light?.isLight(f.logId)) {
      // A forked light log abstains whatever it holds: no lookup needed.
      if (vote.forked) return { vote: { ...vote, fingerprints: [] }, light: true };
      const answer = await light.entries(f.logId, hashPart);
      if (answer.kind === 'unavailable') {
        log('light log %s: no lookup answer for %s (%s): silent', f.name, hashPart, answer.reason);
        return { vote: { ...vote, fingerprints: [] }, light: true, unavailable: true };
      }
      if (answer.kind === 'tooMany') return { vote: overfull(vote, f.name, hashPart), light: true };
      texts = answer.entries.map((e) => e.entry);
    } else {
      const store = this.components.store(f.logId);
      const entries = (await store?.entriesForPath(hashPart)) ?? [];
      // More entries for one path than any honest rebuild history: the log abstains on it (layout.ts).
      if (entries.length > MAX_PATH_ENTRIES) return { vote: overfull(vote, f.name, hashPart), light: false };
      texts = entries.map((e) => decoder.decode(e.entry));
    }
    const fingerprints = new Set<string>();
    for (const fingerprint of texts) {
      // `1;<path>;...`: an entry of another path with this hash part is no vote on this one.
      if (storePath !== undefined && !fingerprint.startsWith(`1;${storePath};`)) continue;
      fingerprints.add(fingerprint);
    }
    return { vote: { ...vote, fingerprints: [...fingerprints] }, light: light?.isLight(f.logId) ?? false };
  }
}

function overfull(vote: Omit<LogVote, 'fingerprints'>, name: string, hashPart: string): LogVote {
  log('log %s holds more than %d entries for %s: it abstains', name, MAX_PATH_ENTRIES, hashPart);
  return { ...vote, fingerprints: [], overfull: true };
}

/**
 * The JSON of a decision: `trustix decide --json` (docs/CLI.md, which adds the `path` asked) and the
 * `decision` of `GET /api/v1/paths/<hash>`. `storePath`, `fingerprint` and `decider` are null when undecided.
 */
export function decisionJson(d: PathDecision) {
  return {
    decided: d.fingerprint !== undefined,
    storePath: d.storePath ?? null,
    fingerprint: d.fingerprint ?? null,
    decider: d.decider ?? null,
    agreeing: d.agreeing,
    mismatches: d.mismatches,
    misses: d.misses,
    abstentions: d.abstentions,
    tally: d.tally,
    reasons: d.reasons,
    light: d.light,
    unanswered: d.unanswered,
  };
}
