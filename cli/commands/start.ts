/**
 * `trustix start`: run the node until SIGINT or SIGTERM. On a fresh machine it first creates the data
 * directory and keys, so it does something useful with no setup.
 */
import type { Argv, CommandModule } from 'yargs';
import { dataDir, ISOLATED_ADVICE, initDataDir, writePostBuildHook } from '../../node/client.ts';
import {
  DEFAULT_VOTE,
  type DeciderSpec,
  reachabilityOf,
  TrustixNode,
  unsatisfiableVote,
} from '../../node/index.ts';
import { formatNixPublicKey } from '../../protocol/index.ts';
import { effectiveConfig } from '../effective-config.ts';
import type { FastSpec } from '../fast-path.ts';
import { dataDirOf, type GlobalOptions } from '../global-options.ts';
import { NODE_FAST_OPTIONS, type NodeArgs, nodeOptions } from '../node-options.ts';
import { print } from '../output.ts';
import { untilSignal } from '../until-signal.ts';

/**
 * What `start` says when the vote can never decide with the logs followed, and how to take one log's
 * word knowingly instead (docs/CLI.md, the vote). Null when the vote can decide.
 */
function voteWarning(vote: readonly DeciderSpec[], followed: readonly { name: string }[]): string | null {
  const why = unsatisfiableVote(
    vote,
    followed.map((f) => f.name),
  );
  if (why === undefined) return null;
  const name = followed[0]?.name ?? 'NAME';
  return `${why}. Follow more logs, or, to accept what one builder says on its own word, set the vote to "trust ${name}" knowingly (--vote 'trust ${name}', or "vote" in the config file).`;
}

/**
 * What `start` says when its HTTP server listens beyond loopback: everyone who reaches that address reads
 * the API, the dashboard and the logs, and substitutes from the node (docs/SECURITY.md). Null on loopback.
 */
export function httpWarning(host: string): string | null {
  if (host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)) return null;
  return `the HTTP server listens on ${host}, beyond loopback: anyone who can reach it reads the node's API, dashboard and logs (use --http 127.0.0.1:PORT to keep it local)`;
}

/** When `start` reports reachability: after the bootstrap dials, relay reservation and rendezvous. */
const REACHABILITY_REPORT_MS = 30_000;

export const startCommand: CommandModule<GlobalOptions, NodeArgs> & { fast: FastSpec } = {
  command: 'start',
  describe: 'Run the node: sequencer, submission socket and HTTP server (until Ctrl-C)',
  fast: { options: NODE_FAST_OPTIONS },
  builder: (yargs: Argv<GlobalOptions>) => nodeOptions(yargs),
  handler: async (argv) => {
    const dir = dataDirOf(argv);
    const { config, init: settings } = await effectiveConfig(argv);
    const init = await initDataDir(dir);
    // The hook names the spool the node reads: written again whenever --spool or "spool" changes it.
    const spool = config.spool;
    await writePostBuildHook(dataDir(dir).postBuildHook, spool);
    const node = new TrustixNode({ dataDir: dir, ...settings, spool: { dir: spool } });
    await node.start();
    // Logs named in the config file are followed (again) at every start: idempotent, updates name, weight and mode.
    for (const f of config.follow)
      await node.followed.follow(f.log, {
        ...(f.name !== undefined ? { name: f.name } : {}),
        ...(f.weight !== undefined ? { weight: f.weight } : {}),
        ...(f.light !== undefined ? { light: f.light } : {}),
      });
    // Before anything is printed: a signal sent as soon as the output appears must find the handler.
    const stopped = untilSignal(node, argv.io);
    const { host, port } = node.httpAddress();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const info = {
      dataDir: dir,
      created: init.created,
      logId: node.keys.log.logId,
      vkey: node.keys.log.vkey,
      logPublicKey: formatNixPublicKey(node.keys.log),
      http: url,
      checkpoint: `${url}/logs/${node.keys.log.logId}/checkpoint`,
      socket: dataDir(dir).socket,
      peerId: node.libp2p?.peerId.toString(),
      listen: node.libp2p?.getMultiaddrs().map(String) ?? [],
      spool,
      postBuildHook: dataDir(dir).postBuildHook,
      config: config.configFile,
      upstreams: config.upstreams,
      vote: config.vote,
      voteWarning: voteWarning(settings.vote ?? DEFAULT_VOTE, node.followed.list()),
      httpWarning: httpWarning(host),
      substituter: url,
      cachePublicKey: formatNixPublicKey(node.keys.cacheSecret),
      witness: config.witness ? (node.keys.witness?.key.vkey ?? null) : null,
    };
    print(argv, info, (i) =>
      [
        `${i.created ? 'Created' : 'Using'} ${i.dataDir}`,
        `log ${i.logId}`,
        `  vkey ${i.vkey}`,
        `  checkpoint ${i.checkpoint}`,
        `submission socket ${i.socket}`,
        `spool ${i.spool}`,
        `peer ${i.peerId}`,
        ...(i.witness === null ? [] : [`witness ${i.witness}   (cosigning the logs it follows)`]),
        ...i.listen.map((a) => `  listening on ${a}`),
        '',
        `substituter ${i.substituter}${i.upstreams.length === 0 ? ' (no upstream caches: it serves nothing; see --upstream)' : ` from ${i.upstreams.join(' ')}`}`,
        `  vote: ${i.vote.join(', then ')}`,
        ...(i.voteWarning === null ? [] : [`  warning: ${i.voteWarning}`]),
        `dashboard ${i.http}/`,
        ...(i.httpWarning === null ? [] : [`  warning: ${i.httpWarning}`]),
        '',
        'To substitute only what your vote accepts, add to nix.conf:',
        `  substituters = ${i.substituter}`,
        `  trusted-public-keys = ${i.cachePublicKey}`,
        'To publish every build, add to nix.conf:',
        `  post-build-hook = ${i.postBuildHook}`,
        'Press Ctrl-C to stop.',
      ]
        .filter((l, n, all) => l !== '' || all[n - 1] !== '')
        .join('\n'),
    );
    // Once, when the node had time to meet peers: where it stands, and what to do if it met none.
    const libp2p = node.libp2p;
    const check =
      libp2p && !argv.json
        ? setTimeout(() => {
            const r = reachabilityOf(libp2p);
            argv.io.stdout.write(`reachability: ${r.summary}\n`);
            if (r.state === 'isolated') argv.io.stderr.write(`${ISOLATED_ADVICE}\n`);
          }, REACHABILITY_REPORT_MS)
        : undefined;
    check?.unref();
    await stopped;
    clearTimeout(check);
  },
};
