/**
 * What the user's node makes of the synced logs in `trustix demo`: its substituter's answers to Nix, each
 * checked as Nix would and explained by the vote behind it (`[vote]`), and the whole-log challenge
 * (`[challenge]`). Its own module because these steps show the verdicts, once the network half
 * (network-steps.ts) has brought the logs; the vote they explain is defined here.
 */
import { createHash } from 'node:crypto';
import { verifyingKey } from '../../protocol/ed25519.ts';
import { parseNarinfo } from '../../protocol/narinfo.ts';
import { narinfoFingerprint, narinfoSignedBy } from '../../protocol/narinfo-signature.ts';
import { formatSha256 } from '../../protocol/nix-hash.ts';
import type { TrustixNode } from '../assembly/trustix-node.ts';
import { DemoFailedError } from '../errors.ts';
import { challengeAll } from '../stats/challenge.ts';
import { challengeDiff } from '../stats/challenge-diff.ts';
import { reproducibilityLine } from '../stats/repro-rate.ts';
import type { PathDecision } from '../vote/decisions.ts';
import type { DemoScenario } from './builds.ts';
import { agreement, refusal } from './narration.ts';
import type { DemoStage } from './stage.ts';
import { isAbort, within } from './waits.ts';

/** The user's node's vote, as the demo configures and explains it. */
export const VOTE = 'threshold 3/4';
/** Logs that must agree under VOTE. */
const VOTES_NEEDED = 3;

/** Asks the user's substituter what Nix would, and tells the vote behind each answer. */
export async function vote(demo: DemoStage, user: TrustixNode, scenario: DemoScenario): Promise<void> {
  const { unanimous, withoutMars, onlyMercury } = scenario.showcase;
  demo.say('vote', "Nix asks your node's substituter for narinfos; it answers only what your vote accepts:");
  for (const build of [unanimous, withoutMars, scenario.lie.build, onlyMercury]) {
    const url = `${demo.dashboard}${build.hashPart}.narinfo`;
    const res = await within(
      'asking the substituter',
      fetch(url, { signal: demo.requestSignal() }),
      demo.ctx,
    );
    const body = new Uint8Array(await res.arrayBuffer());
    const decision = await user.decisions.decide(build.hashPart);
    if (res.status === 200) {
      demo.say('vote', `served  (HTTP 200)  ${build.storePath}`);
      demo.say('vote', `    ${agreement(decision, VOTE)}`);
      demo.say('vote', `    ${await checkServed(demo, user, body, decision)}`);
    } else {
      demo.say('vote', `refused (HTTP ${res.status})  ${build.storePath}`);
      for (const line of refusal(decision, VOTE, VOTES_NEEDED)) demo.say('vote', `    ${line}`);
    }
  }
}

/** Checks a served narinfo as Nix would (signature, then NAR hash and size); a line saying so. */
async function checkServed(
  demo: DemoStage,
  user: TrustixNode,
  body: Uint8Array,
  decision: PathDecision,
): Promise<string> {
  const info = parseNarinfo(body);
  const key = user.keys.cacheSecret;
  if (narinfoFingerprint(info) !== decision.fingerprint)
    throw new DemoFailedError(
      `the substituter served ${info.storePath} with a fingerprint the vote did not decide`,
    );
  if (!narinfoSignedBy(info, key.name, verifyingKey(key.publicKey)))
    throw new DemoFailedError(`the substituter's narinfo for ${info.storePath} is not signed by ${key.name}`);
  const res = await within(
    'downloading a NAR',
    fetch(`${demo.dashboard}${info.url}`, { signal: demo.requestSignal() }),
    demo.ctx,
  );
  const nar = new Uint8Array(await res.arrayBuffer());
  const hash = formatSha256(new Uint8Array(createHash('sha256').update(nar).digest()));
  if (res.status !== 200 || hash !== formatSha256(info.narHash) || nar.length !== info.narSize)
    throw new DemoFailedError(
      `the NAR served for ${info.storePath} does not match its narinfo (HTTP ${res.status})`,
    );
  return `narinfo signed by your key ${key.name}; its NAR (${nar.length} bytes) has the voted hash`;
}

/** Whole-log challenge, like `trustix challenge --diff`. */
export async function challenge(demo: DemoStage, user: TrustixNode): Promise<void> {
  const { items, summary: s } = await challengeAll(user.stats.views);
  demo.say(
    'challenge',
    `${s.analysed} store paths compared across the 4 logs (as \`trustix challenge\` does):`,
  );
  demo.say('challenge', `  ${s.reproducible} identical wherever they were built`);
  demo.say('challenge', `  ${s.mismatch} differ between builders`);
  demo.say('challenge', `  ${s.inconclusive} inconclusive (only one builder has them)`);
  // The same rate, defined the same way, as the dashboard and `trustix challenge`.
  demo.say('challenge', `  ${reproducibilityLine(s)}`);
  for (const item of items.filter((i) => i.verdict === 'mismatch')) {
    demo.say('challenge', `${item.storePath ?? item.hashPart} differs:`);
    const width = Math.max(...item.logs.map((l) => l.log.length));
    for (const l of item.logs)
      demo.say('challenge', `  ${`${l.log}:`.padEnd(width + 1)} ${l.narHashes.join(' and ')}`);
    if (item.silent.length > 0) demo.say('challenge', `  (${item.silent.join(', ')}: not built)`);
    try {
      const d = await within(
        'comparing the NARs',
        challengeDiff(user.stats.views, user.upstreams, item.hashPart, { timeoutMs: demo.ctx.timeoutMs }),
        demo.ctx,
      );
      for (const line of d.text.trimEnd().split('\n')) demo.say('challenge', `  ${line}`);
    } catch (err) {
      if (isAbort(err, demo.signal)) throw err;
      demo.say('challenge', `  (no file-by-file comparison: ${(err as Error).message})`);
    }
  }
}
