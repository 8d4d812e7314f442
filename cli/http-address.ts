/**
 * Parsing of `--http HOST:PORT` (and `[IPv6]:PORT`).
 */
import { UsageError } from './exit-code.ts';

export function parseHttpAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port > 65_535) {
    throw new UsageError(`--http must be HOST:PORT (e.g. 127.0.0.1:8565), not ${JSON.stringify(text)}`);
  }
  return { host: (m[1] ?? m[2])!, port };
}
