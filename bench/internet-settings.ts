/**
 * The internet benchmark's settings (bench/internet.ts), from the environment: apart from the set-ups
 * that use them, so that its knobs are listed in one place and every module of the benchmark reads the
 * same values.
 *
 * Settings (environment): unset, TRUSTIX_BENCH_INTERNET_LINKS gives the links of bench/internet.ts;
 * TRUSTIX_BENCH_INTERNET_LINKS=plain gives plain veths; a JSON shape another link (e.g. a slow uplink:
 * `{"delayMs":40,"rateBytesPerSecond":32000}`, test/helpers/link-emulator.ts).
 * TRUSTIX_BENCH_INTERNET_ENTRIES (default 10,000), TRUSTIX_BENCH_INTERNET_RUNS (default 1),
 * TRUSTIX_BENCH_INTERNET_KINDS (default "relayed,webrtc,direct"), TRUSTIX_BENCH_INTERNET_ROUNDS
 * (default 20) and TRUSTIX_BENCH_INTERNET_LOOKUPS (a light node's lookups, default 50) size it.
 */
import type { LinkShape } from '../test/helpers/netns.ts';

export const ENTRIES = Number(process.env['TRUSTIX_BENCH_INTERNET_ENTRIES'] ?? 10_000);
export const RUNS = Number(process.env['TRUSTIX_BENCH_INTERNET_RUNS'] ?? 1);
export const ROUNDS = Number(process.env['TRUSTIX_BENCH_INTERNET_ROUNDS'] ?? 20);
export const LOOKUPS = Number(process.env['TRUSTIX_BENCH_INTERNET_LOOKUPS'] ?? 50);
/** The links of issues 15 and 18, on what each host sends (undefined: plain veths). */
export const SHAPE: LinkShape | undefined = linkShape(process.env['TRUSTIX_BENCH_INTERNET_LINKS']);
export const ALL_KINDS = ['relayed', 'webrtc', 'direct'] as const;
export type Kind = (typeof ALL_KINDS)[number];
export const KINDS = (process.env['TRUSTIX_BENCH_INTERNET_KINDS'] ?? ALL_KINDS.join(','))
  .split(',')
  .filter((k): k is Kind => (ALL_KINDS as readonly string[]).includes(k));

/** TRUSTIX_BENCH_INTERNET_LINKS: unset, the links of issues 15 and 18; `plain`, none; else a JSON shape. */
function linkShape(value: string | undefined): LinkShape | undefined {
  if (value === undefined || value === '') return { delayMs: 40, jitterMs: 10, loss: 0.005 };
  if (value === 'plain') return undefined;
  const shape = JSON.parse(value) as Partial<Record<keyof LinkShape, unknown>>;
  const known = ['delayMs', 'jitterMs', 'loss', 'limit', 'rateBytesPerSecond'];
  const bad = Object.entries(shape).find(
    ([k, v]) => !known.includes(k) || typeof v !== 'number' || !(v >= 0),
  );
  if (bad !== undefined || typeof shape.delayMs !== 'number')
    throw new Error(
      `TRUSTIX_BENCH_INTERNET_LINKS: "plain" or a shape with delayMs and ${known.slice(1).join(', ')}`,
    );
  return shape as unknown as LinkShape;
}
