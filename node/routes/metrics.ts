/**
 * Prometheus metrics of a node, served at `GET /metrics` (docs/guides/operations.md). One prom-client
 * Registry per node, never the global one (tests run many nodes in one process), holding:
 * - libp2p's metrics (`libp2p_*`, and `nodejs_memory_*`, `nodejs_fs_usage_bytes`), registered there by
 *   @libp2p/prometheus-metrics (node/network/libp2p-node.ts);
 * - ours (`trustix_*`, below; docs/guides/operations.md lists them);
 * - and, at each scrape, the process's (`process_*`, `nodejs_*`: prom-client's default metrics),
 *   collected once per process in a registry of their own, made at the first scrape: its event-loop
 *   lag monitor wakes the process every 10 ms, which a node nobody scrapes should not pay.
 *
 * Gauges that mirror state are computed at scrape time from the node's parts; counters and the latency
 * histogram are bumped through narrow hooks (Decisions' onDecision, the HTTP server's observer), so no
 * other module imports prom-client.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CHECKPOINT_TOPIC, EVIDENCE_TOPIC } from '../../protocol/constants.ts';
import type { HttpObserver } from '../http/http-server-init.ts';
import type { HttpRoutes, Route } from '../http/route.ts';
import type { GossipMesh } from '../network/gossip-router.ts';
import type { OwnLog } from '../own-log/own-log.ts';
import type { MemoryRelease } from '../runtime/memory-releaser.ts';
import type { ReproStats } from '../stats/repro-stats.ts';
import type { Database } from '../store/database.ts';
import type { FollowedLogs } from '../store/followed-logs.ts';
import { monitorEvidenceRange } from '../store/layout.ts';
import type { FollowedLogStatus, FollowState } from '../sync/follow-status.ts';
import type { PathDecision } from '../vote/decisions.ts';
import { SUBSTITUTER_ROUTES, type SubstituterRoute } from './substituter.ts';

export const METRICS_PATH = '/metrics';

/** Substituter latency buckets, in seconds: a cached narinfo (0.1 ms) to a slow upstream (5 s). */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

const FOLLOW_STATES: readonly FollowState[] = ['ok', 'searching', 'syncing', 'forked', 'failed'];
const TOPICS: readonly string[] = [CHECKPOINT_TOPIC, EVIDENCE_TOPIC];

/** The parts of a node the gauges read; getters for the parts started later than the metrics. */
export interface NodeMetricsComponents {
  /** Where the fork evidence is stored (only its keys are counted). */
  readonly db: Database;
  /** The node's own log and submission queue; none on a bootstrap node. */
  readonly own?: Pick<OwnLog, 'store' | 'queue'> | undefined;
  readonly followed: Pick<FollowedLogs, 'list'>;
  follower(): { statuses(): readonly FollowedLogStatus[] } | undefined;
  stats(): Pick<ReproStats, 'views'> | undefined;
  mesh(): Pick<GossipMesh, 'getMeshPeers'> | undefined;
}

/** The node's registry with the `trustix_*` metrics on it, and the hooks that feed the counters. */
export class NodeMetrics implements HttpObserver {
  /** Give it to libp2p (Libp2pNodeInit.metrics) before the scrapes start. */
  readonly registry = new Registry();
  private readonly decisionsComputed: Counter<'outcome'>;
  private readonly decisionsCached: Counter<'outcome'>;
  private readonly requests: Counter<'route' | 'status'>;
  private readonly durations: Histogram<'route'>;
  private readonly memoryReleases: Counter;
  private readonly memoryReleased: Counter;

  constructor(c: NodeMetricsComponents) {
    const registers = [this.registry];

    const logGauge = (name: string, help: string, value: (s: FollowedLogStatus) => number) =>
      gauge(registers, name, help, ['log', 'name', 'role'], (set) => {
        if (c.own !== undefined) {
          const { store } = c.own;
          set({ log: store.logId, name: store.key.name, role: 'own' }, store.size);
        }
        for (const s of c.follower()?.statuses() ?? [])
          set({ log: s.logId, name: s.name, role: 'followed' }, value(s));
      });
    logGauge('trustix_log_size', 'Entries in the log: own, or the largest signed size seen', (s) => s.size);
    logGauge(
      'trustix_log_verified_size',
      'Entries of the log stored and verified here',
      (s) => s.verifiedSize,
    );
    gauge(
      registers,
      'trustix_log_sync_lag',
      'Entries a followed log is behind the newest signed checkpoint seen',
      ['log', 'name'],
      (set) => {
        for (const s of c.follower()?.statuses() ?? []) set({ log: s.logId, name: s.name }, s.lag);
      },
    );
    gauge(
      registers,
      'trustix_log_state',
      'State of a followed log: 1 for the current one',
      ['log', 'name', 'state'],
      (set) => {
        for (const s of c.follower()?.statuses() ?? [])
          for (const state of FOLLOW_STATES)
            set({ log: s.logId, name: s.name, state }, s.state === state ? 1 : 0);
      },
    );
    gauge(registers, 'trustix_followed_logs', 'Logs followed (voting)', [], (set) =>
      set({}, c.followed.list().length),
    );
    gauge(
      registers,
      'trustix_submissions_queued',
      'Submissions durably queued, not yet in the log',
      [],
      async (set) => {
        if (c.own !== undefined) set({}, await c.own.queue.size());
      },
    );
    gauge(
      registers,
      'trustix_evidence_held',
      'Fork evidence documents held (one per forked log)',
      [],
      async (set) => {
        let n = 0;
        for await (const _ of c.db.keys(monitorEvidenceRange())) n++;
        set({}, n);
      },
    );
    gauge(
      registers,
      'trustix_repro_paths',
      'Store paths by reproducibility verdict across the followed logs',
      ['verdict'],
      (set) => {
        const paths = c.stats()?.views.summary().paths;
        if (paths === undefined) return;
        for (const verdict of ['reproducible', 'mismatch', 'inconclusive'] as const)
          set({ verdict }, paths[verdict]);
      },
    );
    gauge(registers, 'trustix_gossip_mesh_peers', 'Peers in our gossip mesh, by topic', ['topic'], (set) => {
      const mesh = c.mesh();
      if (mesh !== undefined) for (const topic of TOPICS) set({ topic }, mesh.getMeshPeers(topic).length);
    });

    this.decisionsComputed = new Counter({
      name: 'trustix_decisions_computed_total',
      help: 'Decisions computed (votes read, deciders run), by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.decisionsCached = new Counter({
      name: 'trustix_decisions_cached_total',
      help: 'Decisions answered from the cache, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.requests = new Counter({
      name: 'trustix_substituter_requests_total',
      help: 'Substituter requests answered, by route and HTTP status',
      labelNames: ['route', 'status'],
      registers,
    });
    this.durations = new Histogram({
      name: 'trustix_substituter_request_duration_seconds',
      help: 'Time to answer a substituter request (for a NAR: until its headers)',
      labelNames: ['route'],
      buckets: [...DURATION_BUCKETS],
      registers,
    });
    this.memoryReleases = new Counter({
      name: 'trustix_memory_releases_total',
      help: 'Times the node gave memory back to the OS at rest',
      registers,
    });
    this.memoryReleased = new Counter({
      name: 'trustix_memory_released_bytes_total',
      help: 'Resident memory given back to the OS at rest',
      registers,
    });
  }

  /** MemoryReleaser's 'released' event. */
  readonly onMemoryRelease = (release: MemoryRelease): void => {
    this.memoryReleases.inc();
    this.memoryReleased.inc(Math.max(0, release.before - release.after));
  };

  /** Decisions' onDecision hook. */
  readonly onDecision = (source: 'computed' | 'cached', decision: PathDecision): void => {
    const outcome = decision.fingerprint === undefined ? 'undecided' : 'decided';
    (source === 'computed' ? this.decisionsComputed : this.decisionsCached).inc({ outcome });
  };

  /** HttpObserver: counts and times the substituter's requests; others are not measured. */
  response(route: string | undefined, status: number, seconds: number): void {
    if (!isSubstituterRoute(route)) return;
    this.requests.inc({ route, status: String(status) });
    this.durations.observe({ route }, seconds);
  }

  /** The exposition text: the process's metrics and this node's. */
  async text(): Promise<string> {
    const [process, node] = await Promise.all([processRegistry().metrics(), this.registry.metrics()]);
    return `${process}\n${node}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** `GET|HEAD /metrics`: the exposition text, never cached. */
export class MetricsRoutes implements HttpRoutes {
  private readonly metrics: Pick<NodeMetrics, 'text' | 'contentType'>;

  constructor(metrics: Pick<NodeMetrics, 'text' | 'contentType'>) {
    this.metrics = metrics;
  }

  readonly routes: readonly Route[] = [
    {
      name: 'metrics',
      paths: { exact: METRICS_PATH },
      handle: async () => ({
        headers: { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' },
        body: await this.metrics.text(),
      }),
    },
  ];
}

function isSubstituterRoute(route: string | undefined): route is SubstituterRoute {
  return route !== undefined && (SUBSTITUTER_ROUTES as readonly string[]).includes(route);
}

type Labels<L extends string> = Partial<Record<L, string>>;

/** A gauge recomputed at every scrape: cleared, then `fill` sets the current values. */
function gauge<L extends string>(
  registers: Registry[],
  name: string,
  help: string,
  labelNames: readonly L[],
  fill: (set: (labels: Labels<L>, value: number) => void) => void | Promise<void>,
): void {
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers,
    async collect() {
      this.reset();
      await fill((labels, value) => this.set(labels, value));
    },
  });
}

let processMetrics: Registry | undefined;

/** Whether the process's metrics are collected yet (they start with the first scrape). */
export function processMetricsStarted(): boolean {
  return processMetrics !== undefined;
}

/**
 * prom-client's default metrics (CPU, memory, event loop, GC...), collected once per process from the
 * first scrape on: they describe the process, whatever number of nodes it runs, and each collection
 * adds event-loop and GC observers that are never removed.
 */
function processRegistry(): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
