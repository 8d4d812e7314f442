/**
 * Child process of the swarm benchmark (bench/swarm.ts): hosts several real Trustix nodes (TrustixNode:
 * libp2p, LevelDB, gossip, tile exchange, DHT, HTTP for /metrics, the control socket) in one process,
 * because an idle node process costs ~120 MB and a few hundred of them would not fit. Driven over the
 * IPC channel, one request at a time per id: `{ id, op, ...args }` in, `{ id, ok, result | error }` out.
 * Every address it listens on is the one host address it is given (127.0.0.1, or its own network
 * namespace's); TRUSTIX_LOCAL_ONLY is inherited from the parent. Here the request channel; the nodes and
 * their start: bench/swarm-members.ts; the requests: bench/swarm-workload.ts (follow, append, size),
 * bench/swarm-propagation.ts (arrivals, synced, mesh), bench/swarm-counters.ts (traffic, usage),
 * bench/swarm-discovery.ts (freshProvider).
 */
import '../node/client.ts';
import { traffic, usage } from './swarm-counters.ts';
import { freshProvider } from './swarm-discovery.ts';
import { hosting, startNodes, stopAll } from './swarm-members.ts';
import { arrivals, mesh, synced } from './swarm-propagation.ts';
import { append, follow, size } from './swarm-workload.ts';

const ops: Record<string, (args: never) => unknown> = {
  start: startNodes,
  follow,
  append,
  size,
  arrivals,
  synced,
  mesh,
  traffic,
  usage,
  freshProvider,
  stop: stopAll,
};

process.on('message', (msg: { id: number; op: string }) => {
  const { id, op, ...args } = msg;
  Promise.resolve()
    .then(() => ops[op]!(args as never))
    .then(
      (result) => process.send!({ id, ok: true, result }),
      (err: unknown) => process.send!({ id, ok: false, error: String((err as Error)?.stack ?? err) }),
    );
});
// The parent is gone (finished, or killed): stop the nodes, and exit within 20 s whatever they do.
process.on('disconnect', () => {
  hosting.closing = true;
  setTimeout(() => process.exit(1), 20_000).unref();
  stopAll().finally(() => process.exit(0));
});
process.send!({ id: 0, ok: true, result: 'ready' });
