/**
 * The gossipsub router of a Trustix node, configured as docs/PROTOCOL.md "Network" says: unsigned
 * messages whose ID is the SHA-256 of their data, only the checkpoint and evidence topics, bounded RPC
 * frames. Its own module because its options are many and only gossip's: the topics' validators and
 * scores belong to node/network/gossip.ts, which uses this router through TrustixServices['pubsub'].
 */
import { createHash } from 'node:crypto';
import { type GossipSub, type GossipSubComponents, gossipsub, StrictNoSign } from '@libp2p/gossipsub';
import { CHECKPOINT_TOPIC, EVIDENCE_TOPIC } from '../../protocol/constants.ts';
import type { Libp2pNodeInit } from './libp2p-node-init.ts';

/**
 * Largest gossipsub RPC frame accepted. A frame carries a few messages and control data; the largest
 * message is an evidence document (MAX_EVIDENCE_BYTES, 64 KiB). libp2p's default is 4 MiB.
 */
export const MAX_GOSSIP_RPC_BYTES = 1024 * 1024;

/**
 * What the gossipsub service offers beyond its exported interface: its mesh, for status and tests.
 * Present on @libp2p/gossipsub 17's implementation; its published type leaves it out.
 */
export interface GossipMesh {
  getMeshPeers(topic: string): string[];
  /** A peer's current gossip score (below the graylist threshold, its messages are dropped). */
  getScore(peerId: string): number;
}

/** Gossipsub message ID: SHA-256 of the data, so the same checkpoint from any publisher is one message. */
export function gossipMessageId(msg: { data: Uint8Array }): Uint8Array {
  return createHash('sha256').update(msg.data).digest();
}

/** The gossipsub service, with the gossip options of Libp2pNodeInit. */
export function gossipRouter(
  init: Pick<
    Libp2pNodeInit,
    'whitelistIps' | 'gossipScoreParams' | 'gossipScoreThresholds' | 'gossipPeerExchange' | 'gossipSeenTtlMs'
  >,
): (components: GossipSubComponents) => GossipSub & GossipMesh {
  const whitelist = new Set([
    ...(init.gossipScoreParams?.IPColocationFactorWhitelist ?? []),
    ...(init.whitelistIps ?? []),
  ]);
  return withMesh(
    gossipsub({
      // Messages are signed checkpoints and evidence: the author's signature is inside the data, and
      // the ID is the data's hash, so libp2p signatures and sequence numbers would add nothing.
      globalSignaturePolicy: StrictNoSign,
      msgIdFn: gossipMessageId,
      // A node with no peers yet must still be able to publish; the periodic republish spreads it later.
      allowPublishToZeroTopicPeers: true,
      // Republishing the same checkpoint is expected, not an error.
      ignoreDuplicatePublishError: true,
      allowedTopics: [CHECKPOINT_TOPIC, EVIDENCE_TOPIC],
      maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
      // Checkpoints are small: they travel over relayed (limited) connections too.
      runOnLimitedConnection: true,
      doPX: init.gossipPeerExchange ?? false,
      ...(init.gossipSeenTtlMs === undefined ? {} : { seenTTL: init.gossipSeenTtlMs }),
      scoreParams: { ...init.gossipScoreParams, IPColocationFactorWhitelist: whitelist },
      ...(init.gossipScoreThresholds === undefined ? {} : { scoreThresholds: init.gossipScoreThresholds }),
    }),
  );
}

/** Types the gossipsub factory with the mesh accessor its implementation has (checked at creation). */
function withMesh<C>(factory: (components: C) => GossipSub): (components: C) => GossipSub & GossipMesh {
  return (components) => {
    const service = factory(components) as GossipSub & Partial<GossipMesh>;
    if (typeof service.getMeshPeers !== 'function' || typeof service.getScore !== 'function')
      throw new TypeError('gossipsub without getMeshPeers or getScore');
    return service as GossipSub & GossipMesh;
  };
}
