/**
 * A gossip peer of the hostile benchmark (bench/hostile.ts): a real libp2p node in the benchmark's
 * process, dialled to the victim, that publishes on the checkpoint topic. The honest peer that relays the
 * builders' checkpoints is one, each attacker of the spam case another (bench/hostile-spam.ts).
 */
import { createLibp2pNode, type TrustixLibp2p } from '../node/index.ts';
import { CHECKPOINT_TOPIC, formatCheckpointMessage } from '../protocol/index.ts';
import type { Victim } from './hostile-victim-process.ts';

/** A real libp2p peer here, dialled to the victim, that publishes on the checkpoint topic. */
export async function startPeer(victim: Victim): Promise<TrustixLibp2p> {
  const node = await createLibp2pNode({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    allowList: ['/ip4/127.0.0.0/ipcidr/8'],
    whitelistIps: ['127.0.0.1'],
    localOnly: true,
    bootstrap: [victim.addr],
  });
  node.services.pubsub.subscribe(CHECKPOINT_TOPIC);
  const victimId = victim.addr.split('/p2p/')[1]!;
  // Published messages go to the peers known to subscribe: wait until the victim is one.
  while (!node.services.pubsub.getSubscribers(CHECKPOINT_TOPIC).some((p) => p.toString() === victimId))
    await new Promise((r) => setTimeout(r, 50));
  return node;
}

export const publish = (peer: TrustixLibp2p, vkey: string, note: Uint8Array) =>
  peer.services.pubsub.publish(CHECKPOINT_TOPIC, formatCheckpointMessage(vkey, note));
