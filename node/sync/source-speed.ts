/**
 * When a source of a sync is too slow to keep (node/sync/source-pool.ts): an answer that took longer than
 * `minRateGraceMs` at fewer than `minBytesPerSecond` bytes a second, while another source is known to
 * hold the same tiles. Quick small answers are never judged, so small catch-ups keep every source.
 */
import { TileSourceError } from '../errors.ts';
import type { SourceState } from './source-slots.ts';

export interface SourceSpeedInit {
  readonly minBytesPerSecond: number;
  readonly minRateGraceMs: number;
}

/**
 * The error to drop `state` with after an answer of `bodies` that took `ms`, or undefined to keep it: it
 * is kept unless another source of `states` is known to hold these tiles (one that signed a checkpoint
 * covering them or served tiles as deep). A source that has not answered yet, or answered "not found", is
 * no alternative: dropping the only source that has the tiles would fail the sync of a log served only
 * slowly (a relayed builder on a loaded machine).
 */
export function slowness(
  state: SourceState,
  states: readonly SourceState[],
  needs: number,
  bodies: readonly Uint8Array[],
  ms: number,
  init: SourceSpeedInit,
): TileSourceError | undefined {
  const { minBytesPerSecond, minRateGraceMs } = init;
  if (minBytesPerSecond <= 0 || ms <= minRateGraceMs || state.dropped) return undefined;
  let bytes = 0;
  for (const b of bodies) bytes += b.length;
  const rate = (bytes * 1000) / ms;
  if (rate >= minBytesPerSecond) return undefined;
  const alternative = (s: SourceState) =>
    s !== state &&
    !s.dropped &&
    s.maxSize >= needs &&
    ((typeof s.claimed === 'number' && s.claimed >= needs) || s.served >= needs);
  if (!states.some(alternative)) return undefined;
  return new TileSourceError(
    state.source.id,
    'slow',
    `${bytes} bytes in ${ms} ms (${Math.round(rate)} bytes/s), below ${minBytesPerSecond}`,
  );
}
