/**
 * The `trust NAME` decider (the vote's rule: node/vote/decider.ts): what the named log says, and nothing
 * when it is not followed, silent, forked, overfull or contradicting. Its own module, like the other
 * deciders, so that each decider's rule reads alone.
 */
import {
  checkDeciderSpec,
  type Decider,
  type DeciderOutcome,
  type DeciderSpec,
  type LogVote,
} from './decider-spec.ts';
import { ANALYSED, type AnalysedDecider, type Analysis, contradicts } from './vote-analysis.ts';

class TrustDecider implements AnalysedDecider {
  readonly spec: DeciderSpec;
  readonly #log: string;

  constructor(log: string) {
    this.spec = checkDeciderSpec({ kind: 'trust', log });
    this.#log = log;
  }

  decide(votes: readonly LogVote[]): DeciderOutcome {
    const name = this.#log;
    const vote = votes.find((v) => v.log === name);
    if (vote === undefined) return { reason: `log ${name} is not followed` };
    if (vote.forked) return { reason: `log ${name} is forked (its key signed two histories)` };
    if (vote.overfull === true) return { reason: `log ${name} holds too many entries for the path` };
    const first = vote.fingerprints[0];
    if (first === undefined) return { reason: `log ${name} has no entry for the path` };
    if (contradicts(vote.fingerprints))
      return {
        reason: `log ${name} holds ${new Set(vote.fingerprints).size} different fingerprints for the path`,
      };
    return { fingerprint: first };
  }

  [ANALYSED](a: Analysis): DeciderOutcome {
    return this.decide(a.votes);
  }
}

export function trustDecider(log: string): Decider {
  return new TrustDecider(log);
}
