/**
 * Child process of the spool crash test: a node on the data directory `argv[2]` (no network, no HTTP)
 * that takes in its spool in small records, printing `started` once it runs, until killed.
 */
import { TrustixNode } from '../../node/assembly/trustix-node.ts';

const node = new TrustixNode({
  dataDir: process.argv[2]!,
  http: false,
  p2p: false,
  memory: false,
  sequencer: { intervalMs: 20 },
  spool: { maxFilesPerRecord: 20 },
});
await node.start();
process.stdout.write('started\n');
