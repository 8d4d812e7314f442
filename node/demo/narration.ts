/**
 * How `trustix demo` puts the vote into words: short NAR hashes, name lists, and for one decision who
 * agreed, or why nothing was served.
 */
import { parseEntry } from '../../protocol/entry.ts';
import { formatSha256 } from '../../protocol/nix-hash.ts';
import type { PathDecision } from '../vote/decisions.ts';

export function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** `sha256:1abcdefg…`: enough of a NAR hash to tell two apart. */
export function shortHash(fingerprint: string): string {
  return `${formatSha256(parseEntry(fingerprint).narHash).slice(0, 'sha256:'.length + 8)}...`;
}

export function list(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** Who agreed on a decided path. */
export function agreement(d: PathDecision, vote: string): string {
  const total = d.votes.length;
  const who = d.agreeing.length === total ? `all ${total} logs agree` : `${list(d.agreeing)} agree`;
  const silent =
    d.misses.length === 0 ? '' : `; ${list(d.misses)} ${d.misses.length === 1 ? 'has' : 'have'} not built it`;
  const hash = d.fingerprint === undefined ? '' : ` on ${shortHash(d.fingerprint)}`;
  return `${who}${hash} (${d.agreeing.length} of ${total}: "${d.decider ?? vote}" is met)${silent}`;
}

/** Why a path was refused: who said what, who said nothing, and what the vote needed. */
export function refusal(d: PathDecision, vote: string, needed: number): string[] {
  const total = d.votes.length;
  const lines: string[] = [];
  if (d.tally.length > 1) {
    // The values with fewer voters are the odd ones out.
    const [most, ...others] = d.tally;
    const odd = others.flatMap((t) => t.logs);
    const says = (logs: readonly string[]) => `${list(logs)} ${logs.length === 1 ? 'says' : 'say'}`;
    lines.push(
      `${list(odd)} ${odd.length === 1 ? 'disagrees' : 'disagree'}: ${says(most!.logs)} ${shortHash(most!.fingerprint)}, ` +
        others.map((t) => `${says(t.logs)} ${shortHash(t.fingerprint)}`).join(', '),
    );
  } else if (d.tally.length === 1) lines.push(`only ${list(d.tally[0]!.logs)} built it`);
  else lines.push('no followed log built it');
  if (d.misses.length > 0)
    lines.push(`${list(d.misses)} ${d.misses.length === 1 ? 'has' : 'have'} not built it`);
  const best = d.tally[0]?.logs.length ?? 0;
  lines.push(
    `at most ${best} of ${total} agree, "${vote}" needs ${needed}: no consensus, so Nix would build it itself`,
  );
  return lines;
}
