/**
 * Upload slots: the peers a node serves one log's entry bundles to at once (docs/PROTOCOL.md, "Tile
 * exchange"; docs/SCALE.md, "Builders"). As BitTorrent's choking does, a node serves at most `slots`
 * peers per log and tells the others busy (status 3). They turn to the peers being served, whose syncs
 * verify the bundles and serve them half a second later (node/sync/source-pool.ts): a builder then sends
 * about `slots` copies of a checkpoint's bundles however many follow it, and the followers spread the
 * rest among themselves. Entry bundles are what a sync's bytes are; hash tiles, checkpoints and progress
 * are small and always served.
 *
 * A peer keeps its slot while it keeps asking: `idleMs` without a request frees it (its sync is done, or
 * stalled). A slot held `holdMs` while another peer waits is taken back (rotation), so that a long sync or
 * a peer that never stops asking cannot keep the others out; the peer rotated out gets no slot again for
 * `holdMs` while others wait. A peer waits from a busy answer until `waitMs` after it: the sync's pause
 * after a busy answer is at most 1 s (SourcePoolInit.busyMaxPauseMs), so a waiting peer asks again within it.
 * A sync of one checkpoint is short (2 bundles for 500 entries, ~0.1 s on loopback): a slot held a second
 * after it would keep the next peers waiting for nothing, whence the short `idleMs`.
 *
 * Fan-out (BitTorrent's super-seeding, for the node's own log: the caller says when it applies): once
 * `fanout` peers have been served a log's full bundles within `fanoutWindowMs`, a new peer is told busy
 * too, even with a slot free, and asks this node who those peers are (`<logID>/holders`, `recipients`):
 * it fetches from them, and they pass it on (their slots, not a fan-out, bound what they serve). A
 * builder then sends about `fanout` copies of an append, however many followers take it. A peer refused
 * so for `patienceMs` is served (one that cannot reach the holders is late, never starved). Partial
 * bundles (the tip of a tree) are never refused so: small, and a copy of another width serves nobody.
 * Followers do not fan out: each refusal would send a peer on to holders that refuse in turn, and the
 * patience at each hop added seconds to a swarm's append (docs/SCALE.md).
 * Memory: per log served, at most `slots` holders and `maxWaiting` waiting, benched, recent or refused
 * peers of each kind.
 */

export interface UploadSlotsInit {
  /** Peers served one log's entry bundles at once. Default 4 (BitTorrent's upload slots). */
  readonly slots?: number;
  /** A holder that has not asked for this long gives its slot up, in ms. Default 300. */
  readonly idleMs?: number;
  /** A slot held this long is taken back when another peer waits, in ms. Default 10,000. */
  readonly holdMs?: number;
  /** A peer told busy counts as waiting this long, in ms. Default 3,000. */
  readonly waitMs?: number;
  /** Waiting (and rotated-out) peers remembered per log; the oldest are forgotten. Default 256. */
  readonly maxWaiting?: number;
  /** Peers served a log's full bundles within `fanoutWindowMs` before new ones are referred to them. Default 3. */
  readonly fanout?: number;
  /** How long a peer served counts towards `fanout` (and is listed as a holder), in ms. Default 10,000. */
  readonly fanoutWindowMs?: number;
  /** A peer refused for the fan-out this long is served, in ms. Default 2,000. */
  readonly patienceMs?: number;
}

/** The defaults of UploadSlotsInit (documented there). */
export const UPLOAD_SLOTS_DEFAULTS: Required<UploadSlotsInit> = {
  slots: 4,
  idleMs: 300,
  holdMs: 10_000,
  waitMs: 3_000,
  maxWaiting: 256,
  fanout: 3,
  fanoutWindowMs: 10_000,
  patienceMs: 2_000,
};

interface Holder {
  /** When the slot was taken, and the holder's last request (ms). */
  readonly since: number;
  lastAt: number;
}

interface LogSlots {
  readonly holders: Map<string, Holder>;
  /** Peers told busy, with when (ms); oldest first. */
  readonly waiting: Map<string, number>;
  /** Peers rotated out, with until when they yield to waiting peers (ms). */
  readonly benched: Map<string, number>;
  /** Peers served full bundles, with when last (ms); oldest first. */
  readonly recent: Map<string, number>;
  /** Peers refused for the fan-out, with when first (ms); oldest first. */
  readonly refused: Map<string, number>;
}

export class UploadSlots {
  private readonly init: Required<UploadSlotsInit>;
  private readonly logs = new Map<string, LogSlots>();

  constructor(init: UploadSlotsInit = {}) {
    this.init = { ...UPLOAD_SLOTS_DEFAULTS, ...init };
    for (const [name, value] of Object.entries(this.init))
      if (!Number.isSafeInteger(value) || value < 1)
        throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }

  /**
   * Whether `peer` is served an entry bundle of `logId` now (it takes or keeps a slot); false: tell it
   * busy (it is then counted as waiting, or as refused for the fan-out). `seeding`: the fan-out applies
   * (a full bundle of the node's own log).
   */
  admit(logId: string, peer: string, seeding: boolean, now = Date.now()): boolean {
    let log = this.live(logId, now);
    if (log === undefined) {
      log = {
        holders: new Map(),
        waiting: new Map(),
        benched: new Map(),
        recent: new Map(),
        refused: new Map(),
      };
      this.logs.set(logId, log);
    }
    if (seeding && !this.fannedOut(log, peer, now)) return false;
    const admitted = this.slot(log, peer, now);
    if (admitted && seeding) {
      log.refused.delete(peer);
      remember(log.recent, peer, now, this.init.maxWaiting);
    }
    return admitted;
  }

  /**
   * The peers to name as `logId`'s holders, without `asker`, at most `max`: those served its bundles
   * lately (seeding), newest first, then those referred to them, longest referred first (they fetch from
   * the first and serve what they verified: naming them too spreads the next peers over the swarm
   * rather than over the first few).
   */
  recipients(logId: string, asker: string, max: number, now = Date.now()): string[] {
    const log = this.live(logId, now);
    if (log === undefined) return [];
    const named = [...[...log.recent.keys()].reverse(), ...log.refused.keys()];
    return named.filter((p) => p !== asker).slice(0, max);
  }

  /** Whether `peer` is within the fan-out: served lately, among the first `fanout`, or out of patience. */
  private fannedOut(log: LogSlots, peer: string, now: number): boolean {
    if (log.recent.has(peer) || log.recent.size < this.init.fanout) return true;
    const since = log.refused.get(peer);
    if (since !== undefined) return now - since >= this.init.patienceMs;
    remember(log.refused, peer, now, this.init.maxWaiting);
    return false;
  }

  /** Whether `peer` takes or keeps an upload slot of `log`. */
  private slot(log: LogSlots, peer: string, now: number): boolean {
    const othersWait = log.waiting.size > (log.waiting.has(peer) ? 1 : 0);
    const held = log.holders.get(peer);
    if (held !== undefined) {
      if (now - held.since < this.init.holdMs || !othersWait) {
        held.lastAt = now;
        return true;
      }
      log.holders.delete(peer);
      remember(log.benched, peer, now + this.init.holdMs, this.init.maxWaiting);
    } else if (log.holders.size < this.init.slots && !(othersWait && log.benched.has(peer))) {
      log.holders.set(peer, { since: now, lastAt: now });
      log.waiting.delete(peer);
      return true;
    }
    remember(log.waiting, peer, now, this.init.maxWaiting);
    return false;
  }

  /** Peers holding a slot of `logId` now (tests read it). */
  holders(logId: string, now = Date.now()): string[] {
    return [...(this.live(logId, now)?.holders.keys() ?? [])];
  }

  /** Forgets every log (the server stopped). */
  clear(): void {
    this.logs.clear();
  }

  /**
   * The slots of `logId` as of `now`: idle slots freed, peers no longer waiting or benched forgotten;
   * undefined (and forgotten) when nobody is left.
   */
  private live(logId: string, now: number): LogSlots | undefined {
    const log = this.logs.get(logId);
    if (log === undefined) return undefined;
    for (const [peer, h] of log.holders) if (now - h.lastAt >= this.init.idleMs) log.holders.delete(peer);
    // Every map holds its oldest entries first (benched: until now + holdMs; refused: since first).
    for (const [peer, at] of log.waiting) {
      if (now - at < this.init.waitMs) break;
      log.waiting.delete(peer);
    }
    for (const [peer, until] of log.benched) {
      if (until > now) break;
      log.benched.delete(peer);
    }
    for (const map of [log.recent, log.refused])
      for (const [peer, at] of map) {
        if (now - at < this.init.fanoutWindowMs) break;
        map.delete(peer);
      }
    if (log.holders.size + log.waiting.size + log.benched.size + log.recent.size + log.refused.size > 0)
      return log;
    this.logs.delete(logId);
    return undefined;
  }
}

/** Sets `map[key] = value` as its newest entry, forgetting the oldest beyond `max`. */
function remember(map: Map<string, number>, key: string, value: number, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}
