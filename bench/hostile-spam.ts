/**
 * The spam case of the hostile benchmark (bench/hostile.ts), case (c): fresh-key checkpoints, made before
 * any measurement, published by attacker peers on the checkpoint topic at a set rate, and what the
 * victim's validator and gossipsub made of them. Apart from the series of cases because making, pacing and
 * counting the messages is a workload of its own.
 */
import { randomBytes } from 'node:crypto';
import {
  CHECKPOINT_TOPIC,
  formatCheckpointMessage,
  generateNixSecretKey,
  logKeyOf,
  logSigner,
  signCheckpoint,
} from '../protocol/index.ts';
import { round } from './harness.ts';
import { startPeer } from './hostile-peer.ts';
import { SPAM_PEERS, SPAM_PER_PEER_PER_SECOND, SPAM_SECONDS } from './hostile-settings.ts';
import type { Victim } from './hostile-victim-process.ts';

/**
 * Case (c)'s messages: SPAM_PEERS * SPAM_PER_PEER_PER_SECOND * SPAM_SECONDS checkpoint messages, each of
 * a fresh key (a valid first checkpoint of a log nobody follows). Made before any measurement: signing
 * is the attacker's cost.
 */
export function spamMessages(): Uint8Array[] {
  return Array.from({ length: SPAM_PEERS * SPAM_PER_PEER_PER_SECOND * SPAM_SECONDS }, (_, i) => {
    const secret = generateNixSecretKey(`spam${i}-1`);
    const note = signCheckpoint(
      { origin: `spam${i}-1`, size: 1 + (i % 1000), root: randomBytes(32), extensions: [] },
      logSigner(secret),
    );
    return formatCheckpointMessage(logKeyOf(secret).vkey, note);
  });
}

/**
 * Case (c): SPAM_PEERS attacker peers (real libp2p nodes, dialled to the victim) each publish their
 * share of `messages` on the checkpoint topic, SPAM_PER_PEER_PER_SECOND a second. Returns what the
 * victim's validator answered, the attackers' scores at the victim, and the rate achieved.
 */
export async function spam(victim: Victim, messages: readonly Uint8Array[]) {
  const attackers = await Promise.all(Array.from({ length: SPAM_PEERS }, () => startPeer(victim)));
  const ids = attackers.map((a) => a.peerId.toString());
  const before = await victim.gossip(ids);
  const validatedBefore = Object.values(before.results).reduce((a, b) => a + b, 0);
  const total = messages.length;
  const started = Date.now();
  let sent = 0;
  let publishFailed = 0;
  const published: Promise<unknown>[] = [];
  // Every 10 ms, the messages due by then, round-robin over the attackers.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(
        total,
        Math.floor(((Date.now() - started) * SPAM_PEERS * SPAM_PER_PEER_PER_SECOND) / 1000),
      );
      for (; sent < due; sent++)
        published.push(
          attackers[sent % SPAM_PEERS]!.services.pubsub.publish(CHECKPOINT_TOPIC, messages[sent]!).catch(
            () => {
              publishFailed++;
            },
          ),
        );
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  const seconds = (Date.now() - started) / 1000;
  await Promise.all(published);
  // Let the victim's validation queue drain and gossipsub recompute scores (once a heartbeat, 1 s).
  let after = await victim.gossip(ids);
  for (let last = -1, i = 0; i < 50; i++) {
    const validated = Object.values(after.results).reduce((a, b) => a + b, 0);
    if (validated === last && i >= 3) break;
    last = validated;
    await new Promise((r) => setTimeout(r, 500));
    after = await victim.gossip(ids);
  }
  for (const a of attackers) await a.stop();
  const results = Object.fromEntries(
    Object.entries(after.results).map(([k, n]) => [k, n - (before.results[k] ?? 0)]),
  );
  const validated = Object.values(after.results).reduce((a, b) => a + b, 0) - validatedBefore;
  return {
    spamSent: sent,
    spamPerSecond: round(sent / seconds),
    spamPublishFailed: publishFailed,
    // The victim's checkpoint-topic validator, on this attack's messages (and the honest peer's few).
    spamValidated: results,
    // Sent but never validated: dropped by gossipsub before validation (a graylisted sender's RPCs).
    spamNotValidated: sent - publishFailed - validated,
    attackerScoresBefore: before.scores,
    attackerScoresAfter: after.scores,
    logsTracked: after.logsTracked,
  };
}
