/**
 * The text form of `trustix decide`: the votes grouped by value (NAR hash, size, references by name),
 * the decided value marked, each value's logs and weight against the followed logs' total, then the
 * logs that say nothing or abstain and why each decider that did not decide did not.
 *
 *   /nix/store/…-hello: NOT decided
 *       value A  sha256:1b8m…  (NAR 226,560 bytes; refs glibc-2.37-8, hello-lib)
 *                2 logs, weight 2 of 5: mercury, venus
 *       value B  sha256:0zzz…  (NAR 226,560 bytes; refs glibc-2.37-8, hello-lib)
 *                2 logs, weight 2 of 5: saturn, liar
 *     misses     jupiter
 *     not by     threshold 1/2: tie: 2 values qualify; needs 1 log and 1/2 of the weight
 *
 * A decided value is marked `*` and `<- decided`.
 */

/** `trustix decide --json` for one path (docs/CLI.md). */
export interface DecisionJson {
  path: string;
  decided: boolean;
  storePath: string | null;
  fingerprint: string | null;
  decider: string | null;
  agreeing: string[];
  mismatches: { log: string; fingerprint: string }[];
  misses: string[];
  abstentions: { log: string; reason: string; fingerprints: string[] }[];
  tally: { fingerprint: string; logs: string[]; weight: number }[];
  /** The followed logs' total weight (what a threshold's fraction is of). */
  totalWeight: number;
  reasons: string[];
}

/** References listed by name before "+N more". */
const MAX_REFS = 4;

export function decisionText(d: DecisionJson): string {
  const lines = [d.decided ? `${d.path}: decided by ${d.decider}` : `${d.path}: NOT decided`];
  const asked = d.storePath ?? (d.path.startsWith('/') ? d.path : undefined);
  d.tally.forEach((value, i) => {
    const decided = value.fingerprint === d.fingerprint;
    const label = `${decided ? '*' : ' '} value ${String.fromCharCode(65 + (i % 26))}`;
    lines.push(`  ${label}  ${valueText(value.fingerprint, asked)}${decided ? '  <- decided' : ''}`);
    lines.push(
      `             ${value.logs.length} ${value.logs.length === 1 ? 'log' : 'logs'}, weight ${value.weight} of ${d.totalWeight}: ${value.logs.join(', ')}`,
    );
  });
  if (d.tally.length === 0) lines.push('  no log voted');
  lines.push(`  misses     ${d.misses.join(', ') || '-'}`);
  for (const a of d.abstentions)
    lines.push(
      `  abstains   ${a.log} (${a.reason === 'forked' ? 'forked: its key signed two histories' : `contradicting: holds ${a.fingerprints.length} different values`})`,
    );
  for (const r of d.reasons) lines.push(`  not by     ${r}`);
  return lines.join('\n');
}

/** `sha256:HASH (NAR N bytes; refs a, b)`, and the path when it is not the one asked about. */
function valueText(fingerprint: string, asked: string | undefined): string {
  const [version, path, hash, size, refs] = fingerprint.split(';');
  if (version !== '1' || path === undefined || hash === undefined || size === undefined) return fingerprint;
  const names = (refs ?? '')
    .split(',')
    .filter(Boolean)
    .map((r) => r.slice(r.lastIndexOf('/') + 1).replace(/^[0-9a-z]{32}-/, ''));
  const shown =
    names.length === 0
      ? 'no refs'
      : `refs ${names.slice(0, MAX_REFS).join(', ')}${names.length > MAX_REFS ? ` +${names.length - MAX_REFS} more` : ''}`;
  const bytes = Number(size).toLocaleString('en-US');
  return `${hash}  (NAR ${bytes} bytes; ${shown})${asked !== undefined && path !== asked ? `  path ${path}` : ''}`;
}
