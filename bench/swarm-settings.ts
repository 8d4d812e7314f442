/**
 * The swarm benchmark's settings (bench/swarm.ts), from the environment: apart from the runs that use
 * them, so that its knobs are listed in one place and every module of the benchmark reads the same values.
 *
 * Settings (environment): TRUSTIX_BENCH_SWARM_N (default "25,50,100,200"), TRUSTIX_BENCH_SWARM_NET
 * ("loopback", "netns" or both, default "loopback,netns"), TRUSTIX_BENCH_SWARM_NETNS_N (N for the
 * namespace runs, default the same list), TRUSTIX_BENCH_SWARM_PER_PROCESS (nodes per process, default
 * 25), TRUSTIX_BENCH_SWARM_BUILDERS (K, default 5), TRUSTIX_BENCH_SWARM_BOOTSTRAP (default 3),
 * TRUSTIX_BENCH_SWARM_ROUNDS (propagation rounds, default 20), TRUSTIX_BENCH_SWARM_WINDOW_S (traffic
 * windows, default 30), TRUSTIX_BENCH_SWARM_APPEND (default 10,000), TRUSTIX_BENCH_SWARM_SYNC_JITTER_MS
 * (the followers' sync.syncJitterMs, default the node's), TRUSTIX_BENCH_SWARM_UPLOAD_SLOTS and
 * TRUSTIX_BENCH_SWARM_FANOUT (every node's tiles.uploadSlots and tiles.fanout, default the node's),
 * TRUSTIX_BENCH_SWARM_PATIENCE_MS (how long a builder refuses a peer past its fan-out, UploadSlotsInit),
 * TRUSTIX_BENCH_SWARM_SEQUENCER_MS (the builders' sequencer interval, default 100). SYNC_JITTER_MS,
 * UPLOAD_SLOTS, FANOUT and PATIENCE_MS are read by the worker processes themselves (bench/swarm-members.ts),
 * which inherit the environment.
 */
const env = (name: string, fallback: string) => process.env[`TRUSTIX_BENCH_SWARM_${name}`] ?? fallback;
const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
export const SIZES = list(env('N', '25,50,100,200')).map(Number);
export const NETS = list(env('NET', 'loopback,netns'));
export const NETNS_SIZES = list(env('NETNS_N', SIZES.join(','))).map(Number);
export const PER_PROCESS = Number(env('PER_PROCESS', '25'));
export const K = Number(env('BUILDERS', '5'));
export const B = Number(env('BOOTSTRAP', '3'));
export const ROUNDS = Number(env('ROUNDS', '20'));
export const WINDOW_S = Number(env('WINDOW_S', '30'));
export const APPEND = Number(env('APPEND', '10000'));
/**
 * The builders' sequencer interval (SequencerInit.intervalMs), in ms. Default 100, as in every run
 * before; the node's own default is 500, which batches more of an append's submissions a checkpoint.
 */
export const SEQUENCER_MS = Number(env('SEQUENCER_MS', '100'));
/** Every builder publishes one entry this often in the busy window (the "every 2 s"). */
export const PUBLISH_EVERY_MS = 2_000;
