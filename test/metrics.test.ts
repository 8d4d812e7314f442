/**
 * `/metrics` on a real node (libp2p on 127.0.0.1, HTTP on a free port): the exposition text parses,
 * libp2p's metrics are there, and ours follow what the node did: entries published over the control
 * socket, logs followed, substituter requests answered, decisions computed and answered from the cache.
 */
import '../node/runtime/promise-with-resolvers.ts';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { TrustixNode } from '../node/assembly/trustix-node.ts';
import { DURATION_BUCKETS, processMetricsStarted } from '../node/routes/metrics.ts';
import { submit } from '../node/socket/submit-client.js';
import { initDataDir } from '../node/store/data-dir.ts';
import { formatNixPublicKey, generateNixSecretKey } from '../protocol/keys.ts';
import { tempDir } from './helpers/log-fixture.ts';
import { LOOPBACK_INIT, waitFor } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
// Go's ParseFloat, as Prometheus reads values: NaN and Inf in any case (prom-client writes `Nan`).
const VALUE =
  '[-+]?(?:[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?|[Nn][Aa][Nn])';
// `name{label="value",...} value [timestamp]`, as the Prometheus text format (0.0.4) writes a sample.
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (${VALUE})(?: -?[0-9]+)?$`);
const COMMENT = new RegExp(
  `^# (?:HELP ${NAME} .*|TYPE ${NAME} (?:counter|gauge|histogram|summary|untyped))$`,
);

/** Parses the exposition text; fails on any line that is neither a sample, a HELP/TYPE line nor blank. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || COMMENT.test(line)) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    samples.push({ name: m[1]!, labels, value: floatOf(m[3]!) });
  }
  return samples;
}

function floatOf(text: string): number {
  if (/nan/i.test(text)) return Number.NaN;
  if (/inf/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  return Number(text);
}

/** The value of the one sample of `name` whose labels include `labels`. */
function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length !== 1)
    throw new Error(`${found.length} samples of ${name}${JSON.stringify(labels)}, expected one`);
  return found[0]!.value;
}

// Serial: it runs before the others, while no node of this process has been scraped.
test.serial(
  'the process metrics (and their 10 ms event-loop monitor) start with the first scrape',
  async (t) => {
    const dataDir = await tempDir('trustix-metrics-');
    await initDataDir(dataDir, { name: 'mars' });
    const node = new TrustixNode({ dataDir, http: { port: 0 }, p2p: false, memory: false });
    await node.start();
    t.teardown(async () => {
      await node.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
    t.false(processMetricsStarted(), 'a node nobody scrapes runs no process metrics');
    const text = await (await fetch(`http://127.0.0.1:${node.httpAddress().port}/metrics`)).text();
    t.true(processMetricsStarted());
    t.true(text.includes('nodejs_eventloop_lag_seconds'), 'the first scrape has them');
  },
);

test('GET /metrics exposes libp2p metrics and the node’s own', async (t) => {
  const dataDir = await tempDir('trustix-metrics-');
  await initDataDir(dataDir, { name: 'mercury' });
  const node = new TrustixNode({
    dataDir,
    http: { port: 0 },
    p2p: LOOPBACK_INIT,
    sequencer: { intervalMs: 20 },
    // Only the release the test asks for is counted: none at the first rest after start.
    memory: { secondPassDelayMs: 0, afterStart: false },
  });
  await node.start();
  t.teardown(async () => {
    await node.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const { port } = node.httpAddress();
  const base = `http://127.0.0.1:${port}`;

  const entries = [...syntheticEntries(5, 7)];
  await submit(
    join(dataDir, 'trustix.sock'),
    entries.map((entry) => ({ kind: 'entry' as const, entry })),
  );
  await waitFor('entries sequenced', () => node.ownLog.size === entries.length);
  // Two followed logs that no peer serves: they stay empty, and decide nothing.
  for (const name of ['venus', 'saturn'])
    await node.followed.follow(formatNixPublicKey(generateNixSecretKey(name)), { name });

  const missing = `${base}/0123456789abcdfghijklmnpqrsvwxyz.narinfo`;
  t.is((await fetch(missing)).status, 404, 'undecided: computed');
  t.is((await fetch(missing, { method: 'HEAD' })).status, 404, 'undecided: from the cache');
  t.is((await fetch(`${base}/nix-cache-info`)).status, 200);
  t.is((await fetch(`${base}/nix-cache-info`, { method: 'POST' })).status, 405);
  t.is((await fetch(`${base}/api/v1/status`)).status, 200, 'not a substituter request: not counted');
  const release = await node.memory!.release();

  const res = await fetch(`${base}/metrics`);
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  t.is(res.headers.get('cache-control'), 'no-store');
  const samples = parseExposition(await res.text());
  const own = { log: node.ownLog.logId, name: 'mercury', role: 'own' };

  // Ours.
  t.is(sampleValue(samples, 'trustix_log_size', own), entries.length);
  t.is(sampleValue(samples, 'trustix_log_verified_size', own), entries.length);
  t.is(sampleValue(samples, 'trustix_submissions_queued'), 0, 'everything sequenced');
  t.is(sampleValue(samples, 'trustix_followed_logs'), 2);
  const venus = node.followed.list().find((f) => f.name === 'venus')!;
  t.is(sampleValue(samples, 'trustix_log_size', { name: 'venus', role: 'followed', log: venus.logId }), 0);
  t.is(sampleValue(samples, 'trustix_log_sync_lag', { name: 'venus' }), 0);
  const states = samples.filter((s) => s.name === 'trustix_log_state' && s.labels['name'] === 'venus');
  t.is(states.length, 5, 'one sample per state');
  t.is(
    states.find((s) => s.labels['state'] === 'searching')?.value,
    1,
    'no source has answered for it: searching',
  );
  t.is(
    states.reduce((n, s) => n + s.value, 0),
    1,
    'exactly one current state',
  );
  t.is(sampleValue(samples, 'trustix_evidence_held'), 0);
  t.is(sampleValue(samples, 'trustix_repro_paths', { verdict: 'mismatch' }), 0);
  t.is(sampleValue(samples, 'trustix_gossip_mesh_peers', { topic: '/trustix/checkpoint/1.0.0' }), 0);

  t.is(sampleValue(samples, 'trustix_decisions_computed_total', { outcome: 'undecided' }), 1);
  t.is(sampleValue(samples, 'trustix_decisions_cached_total', { outcome: 'undecided' }), 1);
  t.is(sampleValue(samples, 'trustix_memory_releases_total'), 1);
  t.is(
    sampleValue(samples, 'trustix_memory_released_bytes_total'),
    Math.max(0, release.before - release.after),
  );
  const requests = 'trustix_substituter_requests_total';
  t.is(sampleValue(samples, requests, { route: 'narinfo', status: '404' }), 2);
  t.is(sampleValue(samples, requests, { route: 'cache-info', status: '200' }), 1);
  t.is(sampleValue(samples, requests, { route: 'cache-info', status: '405' }), 1);
  t.false(
    samples.some((s) => s.name === requests && s.labels['route'] === 'nar'),
    'no NAR requested',
  );
  const duration = 'trustix_substituter_request_duration_seconds';
  t.is(sampleValue(samples, `${duration}_count`, { route: 'narinfo' }), 2);
  t.is(sampleValue(samples, `${duration}_count`, { route: 'cache-info' }), 2);
  t.is(sampleValue(samples, `${duration}_bucket`, { route: 'narinfo', le: '+Inf' }), 2);
  const buckets = samples.filter((s) => s.name === `${duration}_bucket` && s.labels['route'] === 'narinfo');
  t.deepEqual(
    buckets.map((s) => s.labels['le']),
    [...DURATION_BUCKETS.map(String), '+Inf'],
  );
  t.true(
    buckets.every((s, i) => i === 0 || s.value >= buckets[i - 1]!.value),
    'cumulative',
  );
  t.true(sampleValue(samples, `${duration}_sum`, { route: 'narinfo' }) > 0);

  // libp2p's (@libp2p/prometheus-metrics), in this node's registry.
  // (libp2p labels a metric group without a label name by the metric's own name.)
  const connections = 'libp2p_connection_manager_connections';
  t.is(sampleValue(samples, connections, { [connections]: 'inbound' }), 0);
  t.true(samples.some((s) => s.name === 'libp2p_kad_dht_routing_table_size'));
  // The process's (prom-client's defaults).
  t.true(sampleValue(samples, 'process_resident_memory_bytes') > 0);
  // Every metric family once: the process's and the node's registries do not overlap.
  const types = (await (await fetch(`${base}/metrics`)).text()).match(/^# TYPE \S+/gm) ?? [];
  t.is(new Set(types).size, types.length);

  const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(await head.text(), '');
  const post = await fetch(`${base}/metrics`, { method: 'POST' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');
});

test('nodes started together in one process each expose their own libp2p metrics', async (t) => {
  const nodes = await Promise.all(
    ['venus', 'saturn'].map(async (name) => {
      const dataDir = await tempDir(`trustix-metrics-${name}-`);
      await initDataDir(dataDir, { name });
      const node = new TrustixNode({ dataDir, http: { port: 0 }, p2p: LOOPBACK_INIT });
      t.teardown(async () => {
        await node.stop();
        await rm(dataDir, { recursive: true, force: true });
      });
      await node.start();
      return node;
    }),
  );
  const [a, b] = nodes as [TrustixNode, TrustixNode];
  await b.libp2p!.dial(a.libp2p!.getMultiaddrs());
  const scrape = async (n: TrustixNode) =>
    parseExposition(await (await fetch(`http://127.0.0.1:${n.httpAddress().port}/metrics`)).text());
  const connections = 'libp2p_connection_manager_connections';
  // Only waits (generously: a loaded machine) for the connection; the assertions below say what is wrong.
  await waitFor(
    'the inbound connection counted',
    async () =>
      (await scrape(a)).some(
        (s) => s.name === connections && s.labels[connections] === 'inbound' && s.value === 1,
      ),
    { timeout: 30_000, interval: 50 },
  ).catch(() => {});
  for (const [n, direction] of [
    [a, 'inbound'],
    [b, 'outbound'],
  ] as const) {
    const samples = await scrape(n);
    t.is(sampleValue(samples, connections, { [connections]: direction }), 1, direction);
    t.is(
      sampleValue(samples, connections, {
        [connections]: direction.startsWith('in') ? 'outbound' : 'inbound',
      }),
      0,
    );
    // Each registry names only its own node's listener.
    const listeners = samples.filter((s) => s.name === 'libp2p_tcp_listener_status_info');
    const port = /\/tcp\/(\d+)/.exec(n.libp2p!.getMultiaddrs()[0]!.toString())?.[1];
    t.deepEqual(
      listeners.map((s) => s.labels['address']),
      [`127.0.0.1:${port}`],
    );
  }
});
