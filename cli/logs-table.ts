/**
 * The followed logs as `trustix logs` prints them: one row per log, every column as wide as its widest
 * value, so that a long log name (or the `searching` state) does not shift the columns after it.
 */

/** The fields of a followed log's status that the table shows (docs/CLI.md, `trustix logs --json`). */
export interface FollowedRow {
  readonly name: string;
  readonly state: string;
  readonly size: number;
  readonly verifiedSize: number;
  readonly lag: number;
  readonly weight: number;
  /** 'full' or 'light' (absent from older nodes: full). */
  readonly mode?: string;
  readonly sources?: readonly string[];
}

export function followedTable(rows: readonly FollowedRow[]): string[] {
  const cells = rows.map((f) => [
    f.name,
    f.mode ?? 'full',
    f.state,
    `size ${f.size}`,
    `verified ${f.verifiedSize}`,
    `lag ${f.lag}`,
    `weight ${f.weight}`,
    `sources ${f.sources?.length ?? 0}`,
  ]);
  const widths = cells[0]?.map((_, c) => Math.max(...cells.map((r) => r[c]!.length))) ?? [];
  return cells.map(
    (r) => `  ${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}`,
  );
}
