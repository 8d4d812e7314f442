/**
 * The machine's pace, the internet benchmark's baseline (bench/internet.ts): the per-entry work a sync
 * does, timed on one thread of the bench's process. Apart from the set-ups because it is measured before
 * the first and after the last, and every sync rate is reported as a ratio to it, which compares runs on
 * days when the shared cores run at different speeds.
 */
import { leafHash, parseEntry } from '../protocol/index.ts';
import { median } from './harness.ts';

/** Entries leaf-hashed and strictly parsed per second, one thread: the machine's pace (median of 3). */
export function pace(entries: readonly string[]): number {
  const utf8 = new TextEncoder();
  const rates: number[] = [];
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    for (const entry of entries) {
      leafHash(utf8.encode(entry));
      parseEntry(entry);
    }
    rates.push(entries.length / ((performance.now() - started) / 1000));
  }
  return median(rates);
}
