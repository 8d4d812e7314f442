/**
 * How much the node logs, on stderr: `--log-level` (or $TRUSTIX_LOG_LEVEL), mapped onto the namespaces
 * of libp2p's logger (which every module logs through: `trustix:<module>`, `libp2p:<component>`, each
 * with `:error` and `:trace` children). Precedence (docs/CLI.md): `--log-level`, then $DEBUG (namespaces,
 * for fine-grained selection), then $TRUSTIX_LOG_LEVEL, then `error`.
 *
 *   error   Trustix's errors only (the default; libp2p reports expected failures, such as aborted
 *           DHT queries at shutdown, as errors: those appear from `debug` on)
 *   info    what the node does: trustix:* without trace
 *   debug   also libp2p's own messages and errors
 *   trace   everything
 *
 * Pure: cli/main.ts enables the namespaces, and only for commands that run node code in the process.
 */
import { UsageError } from './exit-code.ts';

export const LOG_LEVELS = ['error', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const NAMESPACES: Record<LogLevel, string> = {
  error: 'trustix:*:error',
  info: 'trustix:*,-trustix:*:trace',
  debug: 'trustix:*,libp2p:*,-*:trace',
  trace: 'trustix:*,libp2p:*',
};

/**
 * The logger namespaces for `--log-level` / $TRUSTIX_LOG_LEVEL, or undefined when $DEBUG already
 * selects them. A bad level is a usage error.
 */
export function logNamespaces(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const level = flag ?? env['TRUSTIX_LOG_LEVEL'];
  if (flag === undefined && env['DEBUG']) return undefined;
  const chosen = (level ?? 'error') as LogLevel;
  if (!LOG_LEVELS.includes(chosen))
    throw new UsageError(`log level ${JSON.stringify(level)}: expected one of ${LOG_LEVELS.join(', ')}`);
  return NAMESPACES[chosen];
}
