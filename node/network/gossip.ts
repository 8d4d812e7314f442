/**
 * Checkpoint and evidence gossip (docs/PROTOCOL.md): subscribes the node to both topics, validates
 * every message with the checkpoint monitor and maps its verdict ONCE to gossipsub's Accept / Ignore /
 * Reject, publishes the node's own checkpoints and, on a witnessing node, its cosigned checkpoints of the
 * logs it follows (on every new one and periodically, so late joiners learn them), and the evidence the
 * monitor makes. Topic score parameters are tuned for low-traffic topics:
 * one invalid message costs the sender more than the graylist threshold. A sender that overspends its
 * budget of gossip about logs nobody here follows is penalised through gossipsub's application-specific
 * score (node/network/gossip-penalties.ts).
 */
import { TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerScoreParams, TopicScoreParams } from '@libp2p/gossipsub/score';
import { logger } from '@libp2p/logger';
import { CHECKPOINT_TOPIC, EVIDENCE_TOPIC } from '../../protocol/constants.ts';
import { VerificationError } from '../../protocol/errors.ts';
import { formatCheckpointMessage } from '../../protocol/gossip-message.ts';
import type { CheckpointMonitor } from '../monitor/checkpoint-monitor.ts';
import type { ForkEvent, GossipDecision } from '../monitor/checkpoint-verdict.ts';
import type { GossipPenalties } from './gossip-penalties.ts';
import type { TrustixServices } from './libp2p-services.ts';

const log = logger('trustix:gossip');

/**
 * Topic parameters for a topic that carries a few messages a minute: time in mesh counts a little,
 * first deliveries count, mesh-delivery penalties are off (they would punish honest peers for silence),
 * and an invalid message weighs -100 (squared per message), decaying slowly.
 */
const LOW_TRAFFIC_TOPIC: Partial<TopicScoreParams> = {
  topicWeight: 1,
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 3600,
  firstMessageDeliveriesWeight: 1,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 10,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: -100,
  invalidMessageDeliveriesDecay: 0.99,
};

/**
 * The gossipsub score parameters for Trustix's topics (pass to createLibp2pNode's gossipScoreParams),
 * with `penalties` (the same object as the Gossip's) as the application-specific score, weight 1.
 */
export function gossipScoreParams(penalties?: GossipPenalties): Partial<PeerScoreParams> {
  return {
    topics: {
      [CHECKPOINT_TOPIC]: LOW_TRAFFIC_TOPIC as TopicScoreParams,
      [EVIDENCE_TOPIC]: LOW_TRAFFIC_TOPIC as TopicScoreParams,
    },
    ...(penalties && { appSpecificScore: (peer: string) => penalties.score(peer), appSpecificWeight: 1 }),
  };
}

const RESULT: Record<GossipDecision, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
};

export interface GossipInit {
  /** How often the node's own latest checkpoint is published again. Default 60 s. */
  readonly republishIntervalMs?: number;
}

export interface GossipComponents {
  readonly pubsub: TrustixServices['pubsub'];
  readonly monitor: CheckpointMonitor;
  /** The node's own log, if it has one: its vkey and latest checkpoint note. */
  readonly ownLog?: { readonly vkey: string; note(): Uint8Array | undefined };
  /** Where peers that overspend their gossip budget are penalised (see gossipScoreParams). */
  readonly penalties?: GossipPenalties;
}

export class Gossip {
  private readonly components: GossipComponents;
  private readonly republishIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  /** The newest cosigned note of each log this node witnesses, by log ID: republished like our own. */
  private readonly cosigned = new Map<string, { readonly vkey: string; readonly note: Uint8Array }>();
  /** A peer joined our topic: let it learn our checkpoints now rather than at the next republish. */
  private readonly onSubscription = () => {
    if ((this.components.ownLog === undefined && this.cosigned.size === 0) || this.soon !== undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.republish();
    }, 1000);
    this.soon.unref();
  };
  private readonly onFork = (e: CustomEvent<ForkEvent>) => {
    const fork = e.detail;
    if (fork.source === 'made')
      this.publish(EVIDENCE_TOPIC, fork.evidence.bytes, `evidence against ${fork.logId}`);
  };

  constructor(components: GossipComponents, init: GossipInit = {}) {
    this.components = components;
    this.republishIntervalMs = init.republishIntervalMs ?? 60_000;
  }

  start(): void {
    const { pubsub, monitor } = this.components;
    pubsub.topicValidators.set(CHECKPOINT_TOPIC, async (peer, message) => {
      const verdict = await monitor.validate(message.data, peer.toString());
      if (verdict.decision === 'reject')
        log('rejected a checkpoint from %p: %s', peer, verdict.error?.message);
      if (verdict.blame) this.components.penalties?.penalise(peer.toString());
      return RESULT[verdict.decision];
    });
    pubsub.topicValidators.set(EVIDENCE_TOPIC, async (peer, message) => {
      const verdict = await monitor.receiveEvidence(message.data, peer.toString());
      if (verdict.decision === 'reject') log('rejected evidence from %p: %s', peer, verdict.error?.message);
      if (verdict.blame) this.components.penalties?.penalise(peer.toString());
      return RESULT[verdict.decision];
    });
    pubsub.subscribe(CHECKPOINT_TOPIC);
    pubsub.subscribe(EVIDENCE_TOPIC);
    monitor.addEventListener('fork', this.onFork);
    pubsub.addEventListener('subscription-change', this.onSubscription);
    this.timer = setInterval(() => this.republish(), this.republishIntervalMs);
    this.timer.unref();
    this.republish();
  }

  stop(): void {
    const { pubsub, monitor } = this.components;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.timer = undefined;
    this.soon = undefined;
    pubsub.removeEventListener('subscription-change', this.onSubscription);
    monitor.removeEventListener('fork', this.onFork);
    pubsub.unsubscribe(CHECKPOINT_TOPIC);
    pubsub.unsubscribe(EVIDENCE_TOPIC);
    pubsub.topicValidators.delete(CHECKPOINT_TOPIC);
    pubsub.topicValidators.delete(EVIDENCE_TOPIC);
    this.cosigned.clear();
  }

  /**
   * Publishes a checkpoint of the node's own log. Gossipsub does not validate our own messages, so the
   * monitor sees it first (and would refuse to let us spread a checkpoint it holds to be a fork).
   */
  async publishCheckpoint(vkey: string, note: Uint8Array): Promise<void> {
    const message = formatCheckpointMessage(vkey, note);
    const verdict = await this.components.monitor.validate(message);
    if (verdict.decision === 'reject')
      throw verdict.error ?? new VerificationError('own checkpoint', 'refused by the checkpoint monitor');
    this.publish(CHECKPOINT_TOPIC, message, `checkpoint of ${verdict.logId} at ${verdict.size}`);
  }

  /**
   * Publishes this node's cosigned note of a checkpoint of log `logId` (a witness's, docs/PROTOCOL.md),
   * through the monitor as publishCheckpoint does, and republishes it periodically until a newer one of
   * the same log replaces it (one per log: a witness cosigns only logs it follows).
   */
  async publishCosigned(logId: string, vkey: string, note: Uint8Array): Promise<void> {
    this.cosigned.set(logId, { vkey, note });
    await this.publishCheckpoint(vkey, note);
  }

  /** Forgets the cosigned note of a log no longer witnessed (unfollowed). */
  forgetCosigned(logId: string): void {
    this.cosigned.delete(logId);
  }

  /**
   * Publishes fork evidence found outside gossip (e.g. by a sync): the monitor verifies and records it,
   * then it spreads. Evidence the monitor already holds is not published again.
   */
  async publishEvidence(bytes: Uint8Array): Promise<void> {
    const verdict = await this.components.monitor.receiveEvidence(bytes);
    if (verdict.decision === 'reject')
      throw verdict.error ?? new VerificationError('evidence', 'refused by the checkpoint monitor');
    if (verdict.decision === 'accept')
      this.publish(EVIDENCE_TOPIC, bytes, `evidence against ${verdict.logId}`);
  }

  private republish(): void {
    const own = this.components.ownLog;
    const note = own?.note();
    const notes = [...(own !== undefined && note !== undefined ? [{ vkey: own.vkey, note }] : [])];
    for (const c of this.cosigned.values()) notes.push(c);
    for (const n of notes)
      this.publishCheckpoint(n.vkey, n.note).catch((err: unknown) =>
        log.error('republishing failed: %s', err),
      );
  }

  private publish(topic: string, data: Uint8Array, what: string): void {
    this.components.pubsub.publish(topic, data).then(
      (r) => log('published %s to %d peer(s)', what, r.recipients.length),
      (err: unknown) => log.error('publishing %s failed: %s', what, err),
    );
  }
}
