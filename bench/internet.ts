/**
 * `npm run bench -- internet`: Trustix beyond loopback, in the namespace lab of the tests
 * (test/helpers/netns.ts; needs root, `ip` and `nft`). Two set-ups, each with a public node (DHT server,
 * gossip, circuit relay) on a public segment:
 * - relayed: a builder behind NAT A and a user behind NAT B (nft masquerade, inbound dropped), who know
 *   only the public node; every byte between them goes through its relay;
 * - webrtc: the relayed set-up plus WebRTC on both homes, with the public node as their STUN server (it
 *   answers STUN on its TCP port, node/network/stun-responder.ts, and the homes default to their bootstrap
 *   peers for STUN): they meet through the relay, then punch a direct WebRTC connection;
 * - direct: the same builder and user on the public segment itself, the baseline of the same run.
 * Measured per set-up: time from a node's start to its first relay reservation (NATed nodes), time from
 * `follow` to the first checkpoint of the builder's log (found through the DHT provider record on the
 * public node, or its gossip), time from `follow` to the direct WebRTC connection (webrtc), and time from
 * `follow` to a verified copy of ENTRIES entries (entries/s), with the CPU time the user's and the
 * builder's processes spent meanwhile (entries per CPU second: the rate with a core each); then the relayed/direct and webrtc/direct
 * ratios. Every node is a separate process inside its namespace, under
 * TRUSTIX_LOCAL_ONLY; the lab is torn down in every outcome. The machine's load average is reported
 * beside the figures: on 2 shared cores it dominates them. So is its pace, the baseline of the run: the
 * run's entries leaf-hashed and strictly parsed per second on one thread of the bench's process (the
 * per-entry work a sync does; median of 3, before the first set-up and after the last), and each sync
 * rate as a ratio to it, which compares runs on days when the shared cores run at different speeds.
 *
 * After the sync, the builder appends one entry at a time, ROUNDS times: checkpoint propagation is the
 * time from the builder's submission to the user knowing a checkpoint that holds it (polled every 20 ms).
 *
 * Links: what the public node, the builder and the user send is delayed 40 ms ± 10 ms and 0.5 % of it
 * lost (issues 15 and 18), so a round trip between two of them is ~80 ms: tc netem where the kernel has
 * it, else the TAP link emulator of test/helpers/link-emulator.ts (this project's VM kernels lack
 * sch_netem), whose CPU time is reported (it is on the data path and shares the machine).
 *
 * The settings (environment variables: the links, ENTRIES, RUNS, KINDS, ROUNDS):
 * bench/internet-settings.ts; one set-up built, measured and torn down: bench/internet-run.ts; the
 * machine's pace: bench/internet-pace.ts; the figures as measurements: bench/internet-report.ts.
 */
import { loadavg } from 'node:os';
import { netnsUnavailable } from '../test/helpers/netns.ts';
import { syntheticEntries } from '../test/helpers/synthetic-entries.ts';
import { type Measurement, suiteResult } from './harness.ts';
import { pace } from './internet-pace.ts';
import { report } from './internet-report.ts';
import { once, type RunFigures } from './internet-run.ts';
import { ENTRIES, KINDS, type Kind, RUNS } from './internet-settings.ts';

export async function run() {
  const unavailable = netnsUnavailable(['nft']);
  const loadBefore = loadavg();
  const measurements: Measurement[] = [];
  if (unavailable !== undefined) {
    process.stderr.write(`internet benchmark skipped: ${unavailable}\n`);
    return suiteResult('internet', measurements);
  }
  const entries = [...syntheticEntries(ENTRIES, 15)];
  const paceBefore = pace(entries);
  const figures: Record<Kind, RunFigures[]> = { relayed: [], webrtc: [], direct: [] };
  for (let i = 0; i < RUNS; i++) for (const kind of KINDS) figures[kind].push(await once(kind, entries));

  const paceAfter = pace(entries);
  measurements.push(...report(figures, paceBefore, paceAfter, loadBefore));
  return suiteResult('internet', measurements);
}
