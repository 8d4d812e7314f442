/**
 * The substituter benchmark's sizes (bench/substituter.ts), the two from the environment among them:
 * apart from the loads that use them, so that its knobs are listed in one place and every module of the
 * benchmark reads the same values.
 *
 * Sizes: TRUSTIX_BENCH_SUBST_PATHS (default 20,000), TRUSTIX_BENCH_SUBST_SECONDS (default 5).
 */
export const PATHS = Number(process.env['TRUSTIX_BENCH_SUBST_PATHS'] ?? 20_000);
export const SECONDS = Number(process.env['TRUSTIX_BENCH_SUBST_SECONDS'] ?? 5);
export const CONNECTIONS = 10;
export const RUNS = 3;
/** Paths of the warm set (and of the baseline): requested once before the warm runs. */
export const WARM_PATHS = Math.min(2_000, Math.floor(PATHS / 10));
export const LOGS = ['mercury', 'venus', 'saturn', 'mars'];
