/**
 * The hostile benchmark's sizes (bench/hostile.ts), the two from the environment among them: apart from
 * the cases that use them, so that its knobs are listed in one place and every module of the benchmark
 * reads the same values.
 *
 * Settings (environment): TRUSTIX_BENCH_HOSTILE_FLOOD (entries for one path, default 100,000),
 * TRUSTIX_BENCH_HOSTILE_SPAM_SECONDS (how long the fresh-key checkpoints are sent, default 10).
 */
export const FLOOD = Number(process.env['TRUSTIX_BENCH_HOSTILE_FLOOD'] ?? 100_000);
export const SPAM_SECONDS = Number(process.env['TRUSTIX_BENCH_HOSTILE_SPAM_SECONDS'] ?? 10);
export const SPAM_PEERS = 10;
export const SPAM_PER_PEER_PER_SECOND = 100;
/** Entries the honest log gains during each attack. */
export const HONEST_GROWTH = 100;
