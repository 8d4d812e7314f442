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
 * Memory: per log served, at most `slots` holders and `maxWaiting` waiting or benched peers.
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
}

/** The defaults of UploadSlotsInit (documented there). */
export const UPLOAD_SLOTS_DEFAULTS: Required<UploadSlotsInit> = {
  slots: 4,
  idleMs: 300,
  holdMs: 10_000,
  waitMs: 3_000,
  maxWaiting: 256,
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
   * busy (it is then counted as waiting).
   */
  admit(logId: string, peer: string, now = Date.now()): boolean {
    let log = this.live(logId, now);
    if (log === undefined) {
      log = { holders: new Map(), waiting: new Map(), benched: new Map() };
      this.logs.set(logId, log);
    }
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
    // Both maps hold their oldest entries first (waiting since, benched until: now + holdMs).
    for (const [peer, at] of log.waiting) {
      if (now - at < this.init.waitMs) break;
      log.waiting.delete(peer);
    }
    for (const [peer, until] of log.benched) {
      if (until > now) break;
      log.benched.delete(peer);
    }
    if (log.holders.size + log.waiting.size + log.benched.size > 0) return log;
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
