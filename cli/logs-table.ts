/**
 * The followed logs as `trustix logs` prints them: one row per log, every column as wide as its widest
 * value, so that a long log name (or the `searching` state) does not shift the columns after it. A log
 * that is `paused` or `failed` gets a second line with the reason (error code and message).
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
  readonly error?: { readonly code: string; readonly message: string };
  /** The log's witness quorum, when it has one (CheckpointMonitor.quorumStatus). */
  readonly witnesses?: {
    readonly quorum: number;
    readonly witnesses: number;
    readonly newestSize?: number;
    readonly waitingSize?: number;
    readonly waitingCosigners?: number;
  };
}

/** `quorum 2 of 3`, then what waits for it: `, 120 waits (1 cosigned)`. */
function quorumCell(w: NonNullable<FollowedRow['witnesses']>): string {
  const waiting =
    w.waitingSize === undefined ? '' : `, ${w.waitingSize} waits (${w.waitingCosigners ?? 0} cosigned)`;
  return `quorum ${w.quorum} of ${w.witnesses}${waiting}`;
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
    ...(f.witnesses === undefined ? [] : [quorumCell(f.witnesses)]),
  ]);
  // Rows without a quorum have one cell fewer: widths over the cells each row has.
  const widths = cells[0]?.map((_, c) => Math.max(...cells.map((r) => r[c]?.length ?? 0))) ?? [];
  return cells.flatMap((r, i) => {
    const line = `  ${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}`;
    const { state, error } = rows[i]!;
    const why = (state === 'paused' || state === 'failed') && error !== undefined;
    return why ? [line, `    ${error.code}: ${error.message}`] : [line];
  });
}
