/**
 * The light benchmark's settings (bench/light.ts), from the environment: apart from the run that uses
 * them, so that its knobs are listed in one place, as the other benchmarks' are.
 *
 * Settings (environment): TRUSTIX_BENCH_LIGHT_ENTRIES (entries per log, comma-separated, one run per
 * size; default 100000,2000000) and TRUSTIX_BENCH_LIGHT_PATHS (paths asked, default 300).
 */
export const SIZES = (process.env['TRUSTIX_BENCH_LIGHT_ENTRIES'] ?? '100000,2000000').split(',').map(Number);
export const PATHS = Number(process.env['TRUSTIX_BENCH_LIGHT_PATHS'] ?? 300);
export const LOGS = ['mercury', 'venus', 'saturn', 'mars'] as const;
