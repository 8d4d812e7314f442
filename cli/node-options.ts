/**
 * The flags `start` and `config show` share (NodeArgs, nodeOptions), and those of them `start` takes
 * without yargs (NODE_FAST_OPTIONS, cli/fast-path.ts). Apart from the effective configuration
 * (cli/effective-config.ts), which reads only the flags' values: the commands declare the flags, the
 * configuration resolves them, and neither needs the other's workings.
 */
import type { Argv } from 'yargs';
import { DEFAULT_HTTP_PORT } from '../node/index.ts';
import type { FlagSpecs } from './fast-path.ts';
import type { GlobalOptions } from './global-options.ts';
import { type NetworkArgs, networkOptions } from './network-options.ts';

export interface NodeArgs extends NetworkArgs {
  readonly http?: string;
  readonly 'batch-interval'?: number;
  readonly upstream?: string[];
  readonly vote?: string[];
  readonly spool?: string;
  readonly witness?: boolean;
}

const HTTP_OPTION = {
  type: 'string',
  describe: `HTTP address HOST:PORT (default 127.0.0.1:${DEFAULT_HTTP_PORT})`,
} as const;
const BATCH_INTERVAL_OPTION = {
  type: 'number',
  describe: 'Longest a submission waits for its batch, in ms (default 500)',
} as const;
const SPOOL_OPTION = {
  type: 'string',
  describe: 'The spool the post-build hook writes to (overrides "spool"; default <data dir>/spool)',
} as const;
const WITNESS_OPTION = {
  type: 'boolean',
  describe: 'Cosign the checkpoints of the logs this node follows, once verified (overrides "witness")',
} as const;

/**
 * The flags of `start` that take at most one value: with only these (as the systemd unit runs it),
 * `start` runs without yargs (cli/fast-path.ts), so the daemon never holds it in memory.
 */
export const NODE_FAST_OPTIONS: FlagSpecs = {
  http: HTTP_OPTION,
  'batch-interval': BATCH_INTERVAL_OPTION,
  spool: SPOOL_OPTION,
  witness: WITNESS_OPTION,
};

/** The flags `start` and `config show` share: the network's (cli/network-options.ts) among them. */
export function nodeOptions<T extends GlobalOptions>(yargs: Argv<T>) {
  return networkOptions(yargs.option('http', HTTP_OPTION))
    .option('batch-interval', BATCH_INTERVAL_OPTION)
    .option('upstream', {
      type: 'string',
      array: true,
      describe: 'Binary caches the substituter takes narinfos and NARs from (overrides "upstreams")',
    })
    .option('vote', {
      type: 'string',
      array: true,
      describe: 'Deciders in order, e.g. "threshold 3/4" "trust NAME" (overrides "vote")',
    })
    .option('spool', SPOOL_OPTION)
    .option('witness', WITNESS_OPTION);
}
