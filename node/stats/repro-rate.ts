/**
 * The reproducibility rate, defined once (docs/guides/reproducibility.md): of the store paths built by two
 * or more logs (those that can be judged), the share that is identical wherever it was built:
 *
 *   rate = reproducible / (reproducible + mismatch)
 *
 * Paths built by one log only are inconclusive and not counted. The dashboard (node/routes/dashboard/app.js,
 * its `pct`), the API's daily rate, `trustix challenge` and the demo all use this, printed the same way.
 */

/** The rate in [0, 1], or null when no path could be judged. */
export function reproducibilityRate(reproducible: number, mismatch: number): number | null {
  const judged = reproducible + mismatch;
  return judged === 0 ? null : reproducible / judged;
}

/** A rate as a percentage with one decimal, never rounding a difference away (99.96% is not 100%). */
export function formatRate(rate: number | null): string {
  if (rate === null || !Number.isFinite(rate)) return '—';
  const p = rate * 100;
  if (rate < 1 && p > 99.9) return '>99.9%';
  if (rate > 0 && p < 0.1) return '<0.1%';
  return `${p.toFixed(1)}%`;
}

/** `reproducibility 99.7% (297 of the 298 paths built by two or more logs are identical)`. */
export function reproducibilityLine(s: { readonly reproducible: number; readonly mismatch: number }): string {
  const judged = s.reproducible + s.mismatch;
  if (judged === 0) return 'reproducibility — (no path was built by two or more logs)';
  const rate = formatRate(reproducibilityRate(s.reproducible, s.mismatch));
  return `reproducibility ${rate} (${s.reproducible} of the ${judged} paths built by two or more logs are identical)`;
}
