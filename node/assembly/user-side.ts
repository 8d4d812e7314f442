/**
 * The user's side of a node, over the logs it follows: the vote (deciders and cached decisions), the
 * substituter with its upstream caches, the reproducibility statistics, and the JSON API. Assembled
 * here so that node/assembly/trustix-node-lifecycle.ts only wires parts together; started after the follower
 * (the stores it reads) and stopped before it.
 */
import { logger } from '@libp2p/logger';
import type { NixSecretKey } from '../../protocol/keys.ts';
import type { HttpRoutes } from '../http/route.ts';
import type { CheckpointMonitor } from '../monitor/checkpoint-monitor.ts';
import { ApiRoutes, type ControlDocument } from '../routes/api.ts';
import { DashboardRoutes } from '../routes/dashboard.ts';
import { Substituter, type SubstituterInit } from '../routes/substituter.ts';
import { ReproStats, type ReproStatsInit } from '../stats/repro-stats.ts';
import { StatsScheduler, type StatsSchedulerInit } from '../stats/stats-scheduler.ts';
import type { Database } from '../store/database.ts';
import type { FollowedLog, FollowedLogs } from '../store/followed-logs.ts';
import type { Follower } from '../sync/follower.ts';
import { UpstreamCaches } from '../upstream/upstream-caches.ts';
import type { UpstreamCachesInit } from '../upstream/upstream-caches-init.ts';
import { createDeciderChain, type DeciderSpec, parseDeciderSpec } from '../vote/decider.ts';
import {
  Decisions,
  type DecisionsComponents,
  type DecisionsInit,
  type LightVotes,
} from '../vote/decisions.ts';

const log = logger('trustix:node');

/**
 * The vote when none is configured: a value at least 2 logs agree on, with strictly more than half of
 * the followed logs' weight (so one builder never decides alone, and no two values can qualify).
 */
export const DEFAULT_VOTE: readonly DeciderSpec[] = [parseDeciderSpec('majority')];

export interface UserSideInit {
  /** The vote: deciders tried in order until one decides. Default DEFAULT_VOTE. */
  readonly vote?: readonly DeciderSpec[];
  /** Relative script deciders are found from here. Default the working directory. */
  readonly voteBaseDir?: string;
  readonly decisions?: DecisionsInit;
  /** Binary caches the substituter takes narinfos and NARs from. Default none (it then serves nothing). */
  readonly upstreams?: readonly string[];
  readonly upstreamCaches?: UpstreamCachesInit;
  readonly substituter?: SubstituterInit;
  readonly stats?: ReproStatsInit;
  readonly statsScheduler?: StatsSchedulerInit;
}

export interface UserSideComponents {
  readonly db: Database;
  readonly followed: FollowedLogs;
  /** Undefined without a network: then nothing is mirrored, and nothing decided. */
  readonly follower: Follower | undefined;
  /** The light logs' lookups (undefined without a network: a light log is then silent). */
  readonly light: LightVotes | undefined;
  readonly monitor: CheckpointMonitor;
  readonly cacheKey: NixSecretKey;
  readonly storeDir: string;
  readonly control: ControlDocument;
  /** Told of every decision answered (node/routes/metrics.ts). Default: none. */
  readonly onDecision?: DecisionsComponents['onDecision'];
}

export interface UserSide {
  readonly decisions: Decisions;
  readonly stats: ReproStats;
  /** The upstream binary caches (the substituter's; also where `challenge --diff` fetches NARs). */
  readonly upstreams: UpstreamCaches;
  /** The substituter's, the API's and the dashboard's HTTP routes. */
  readonly routes: readonly HttpRoutes[];
  stop(): Promise<void>;
}

export async function startUserSide(c: UserSideComponents, init: UserSideInit = {}): Promise<UserSide> {
  // First: nothing is started yet if its assets cannot be read.
  const dashboard = await DashboardRoutes.open();
  const store = (id: string) => c.follower?.get(id);
  const chain = await createDeciderChain(init.vote ?? DEFAULT_VOTE, {
    ...(init.voteBaseDir !== undefined ? { baseDir: init.voteBaseDir } : {}),
  });
  const decisions = new Decisions(
    {
      followed: c.followed,
      chain,
      store,
      ...(c.light && { light: c.light }),
      isForked: (id) => c.monitor.isForked(id),
      onDecision: c.onDecision,
    },
    init.decisions,
  );
  decisions.start();
  const upstreams = new UpstreamCaches(init.upstreams ?? [], {
    storeDir: c.storeDir,
    ...init.upstreamCaches,
  });
  const substituter = new Substituter(
    { decisions, upstreams, cacheKey: c.cacheKey },
    { storeDir: c.storeDir, ...init.substituter },
  );
  const stats = new ReproStats({ db: c.db, followed: c.followed, store }, init.stats);
  await stats.start();
  // Logs that synced are indexed once no log is syncing any more (node/stats/stats-scheduler.ts).
  const scheduler = new StatsScheduler(
    { update: (id) => stats.update(id), follower: c.follower },
    init.statsScheduler,
  );
  scheduler.start();
  const followedOne = (e: CustomEvent<FollowedLog>) => scheduler.update(e.detail.logId);
  c.followed.addEventListener('followed', followedOne);
  const api = new ApiRoutes({
    views: stats.views,
    decide: (hashPart) => decisions.decide(hashPart),
    control: c.control,
  });
  log(
    'vote: %d decider(s); %d upstream cache(s)',
    init.vote?.length ?? DEFAULT_VOTE.length,
    upstreams.urls.length,
  );
  return {
    decisions,
    stats,
    upstreams,
    routes: [substituter, api, dashboard],
    async stop() {
      scheduler.stop();
      c.followed.removeEventListener('followed', followedOne);
      await stats.stop();
      decisions.stop();
      await chain.close();
    },
  };
}
