/**
 * `npm run bench -- hostile`: a victim node under hostile peers (issue 19's figures). The victim is a real
 * node in a process of its own (bench/hostile-victim.ts, compiled: libp2p, gossipsub, the checkpoint
 * monitor, LevelDB, the follower, the vote `majority` then `trust honest`, the substituter on HTTP), so
 * that its RSS is its own. It follows an honest builder (2,000 entries) and a hostile one, each served by
 * a real HTTP tile server here (the log's static mirror); their checkpoints reach it only by gossip, from
 * an honest peer here (a real libp2p node). While the attack runs, a client in a process of its own
 * (bench/narinfo-client.ts: the attackers here do not delay it) asks the victim's substituter for narinfos of the honest paths and of the attacked path, one at a time (no upstream
 * cache: the answer is 404 once the vote is taken, so the latency is the vote's and the server's); the
 * victim's VmRSS is read from /proc every 20 ms (its peak over the attack) and its VmHWM at the end (its
 * peak since it started). In every case the honest log grows by 100 entries one second into the attack,
 * and must sync.
 * - `2^40 checkpoint`: the hostile builder signs a checkpoint of 2^40 entries, gossiped by the honest
 *   peer (any peer relays a validly signed checkpoint); the follower refuses it (ERR_LOG_LIMIT).
 * - `100,000 entries for one path`: the hostile log holds that many entries for one store path; the
 *   victim syncs it and keeps serving.
 * - `fresh-key checkpoints`: 10 attacker peers (real libp2p nodes meshed with the victim) each publish
 *   100 checkpoints a second on the checkpoint topic, each of a fresh key (valid, of logs nobody
 *   follows), through gossipsub's validation and peer scores; reported: what the victim's validator
 *   answered, how many it never validated (dropped by gossipsub: graylisted senders), and the
 *   attackers' scores at the victim.
 * Baseline: the same victim, requests and honest growth with no attack (the hostile log honest, 300
 * entries), in the same run. Targets: victim RSS peak <= 250 MB, narinfo p99 <= 50 ms. Sizes:
 * TRUSTIX_BENCH_HOSTILE_FLOOD (default 100,000), TRUSTIX_BENCH_HOSTILE_SPAM_SECONDS (default 10)
 * (bench/hostile-settings.ts). Here the series of cases; one case's set-up and measurement:
 * bench/hostile-attack.ts; the fresh-key checkpoints: bench/hostile-spam.ts.
 */
import { randomBytes } from 'node:crypto';
import { logSigner, signCheckpoint } from '../protocol/index.ts';
import { fingerprint, randomNarHash, syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { type Measurement, suiteResult } from './harness.ts';
import { type AttackContext, underAttack } from './hostile-attack.ts';
import { builder, FLOODED_PATH, HONEST, rand } from './hostile-builders.ts';
import { publish } from './hostile-peer.ts';
import { FLOOD, SPAM_PEERS, SPAM_PER_PEER_PER_SECOND, SPAM_SECONDS } from './hostile-settings.ts';
import { spam, spamMessages } from './hostile-spam.ts';

export async function run() {
  const honest = await builder('honest', HONEST);
  const measurements: Measurement[] = [];
  const made = Date.now();
  const messages = spamMessages();
  const spamMadeSeconds = (Date.now() - made) / 1000;
  try {
    const small = await builder('hostile', [...syntheticEntries(300, 9)]);
    const smallSynced = async (v: AttackContext) => {
      await publish(v.honestPeer, small.key.vkey, small.store.checkpoint()!.note);
      await v.victim.whenStatus(small.key.logId, (s) => s.verifiedSize >= 300);
    };
    measurements.push(
      ...(await underAttack(
        'baseline (no attack; hostile log honest, 300 entries)',
        honest,
        small,
        20,
        smallSynced,
      )),
    );
    measurements.push(
      ...(await underAttack('2^40 checkpoint', honest, small, 21, async (v) => {
        await smallSynced(v);
        const claim = signCheckpoint(
          { origin: small.store.checkpoint()!.origin, size: 2 ** 40, root: randomBytes(32), extensions: [] },
          logSigner(small.secret),
        );
        await publish(v.honestPeer, small.key.vkey, claim);
        await v.victim.whenStatus(small.key.logId, (s) => s.state === 'failed');
      })),
    );
    measurements.push(
      ...(await underAttack(
        `${SPAM_PEERS * SPAM_PER_PEER_PER_SECOND} fresh-key checkpoints/s from ${SPAM_PEERS} gossipsub peers, ${SPAM_SECONDS} s`,
        honest,
        small,
        22,
        async (v) => {
          await smallSynced(v);
          v.report({ ...(await spam(v.victim, messages)), spamMadeSeconds });
        },
      )),
    );
    await small.destroy();
    const flood = Array.from({ length: FLOOD }, (_, i) =>
      fingerprint(FLOODED_PATH, randomNarHash(rand), 1000 + i, []),
    );
    const flooder = await builder('flooder', flood);
    measurements.push(
      ...(await underAttack(`${FLOOD} entries for one path`, honest, flooder, 23, async (v) => {
        await publish(v.honestPeer, flooder.key.vkey, flooder.store.checkpoint()!.note);
        await v.victim.whenStatus(flooder.key.logId, (s) => s.verifiedSize >= FLOOD || s.state === 'failed');
      })),
    );
    await flooder.destroy();
  } finally {
    await honest.destroy();
  }
  return suiteResult('hostile', measurements);
}
