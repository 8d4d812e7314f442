/**
 * How long each peer takes to answer a lookup, smoothed, so that the lookup client asks a second
 * provider when the first is late for its own pace rather than after a fixed time (docs/PROTOCOL.md
 * "Lookups"). A fixed 40 ms suits a LAN; across the Internet an answer takes two round trips (the
 * stream's negotiation, then the request), and a fixed hedge asked a second provider for every path.
 */

/** Weight of a new answer time in the smoothed one. */
const WEIGHT = 1 / 4;

export class AnswerTimes {
  /** PeerId string → smoothed answer time in ms; the most recently timed last. */
  private readonly times = new Map<string, number>();
  private readonly maxPeers: number;

  /** Keeps at most `maxPeers` peers, forgetting the least recently timed. */
  constructor(maxPeers = 1024) {
    this.maxPeers = maxPeers;
  }

  /** `peer` answered in `ms`. */
  add(peer: string, ms: number): void {
    const before = this.times.get(peer);
    this.times.delete(peer);
    this.times.set(peer, before === undefined ? ms : before + (ms - before) * WEIGHT);
    if (this.times.size > this.maxPeers) this.times.delete(this.times.keys().next().value!);
  }

  /** The peer's smoothed answer time, in ms; undefined if it has not answered yet. */
  expected(peer: string): number | undefined {
    return this.times.get(peer);
  }
}
