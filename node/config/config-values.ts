/**
 * The syntax of single values in the config file: HTTP address, host name, multiaddr, STUN URL, spool
 * directory, mirror URL. Apart from the section parser (node/config/config-parser.ts) because the command-line
 * flags that override the file take several of them (HTTP address, multiaddr, spool), checked by the same
 * functions (cli/effective-config.ts, through node/index.ts).
 */
import { resolve } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { MalformedError } from '../../protocol/errors.ts';
import { checkPeerMultiaddr } from '../network/peer-address.ts';

/**
 * The spool directory named in a config file: a path without control characters (the post-build hook
 * holds it in a shell script), relative to the file's directory `baseDir`.
 */
export function parseSpoolDir(text: string, baseDir: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (text === '' || /[\u0000-\u001f\u007f]/.test(text))
    throw new MalformedError('spool', 'expected a path without control characters');
  return resolve(baseDir, text);
}

/** `HOST:PORT` or `[IPv6]:PORT`. */
export function parseHttpAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port > 65_535)
    throw new MalformedError(
      'HTTP address',
      `expected HOST:PORT (e.g. 127.0.0.1:8565), not ${JSON.stringify(text.slice(0, 100))}`,
    );
  return { host: (m[1] ?? m[2])!, port };
}

/** A DNS host name (no port), lower-cased: what a Host header may name. */
export function parseHostName(text: string): string {
  if (
    text.length > 253 ||
    !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
      text,
    )
  )
    throw new MalformedError(
      'host name',
      `expected a host name such as nix-cache.lan, not ${JSON.stringify(text.slice(0, 100))}`,
    );
  return text.toLowerCase();
}

/** A multiaddr, canonical; with `peer`, it must end in /p2p/<PeerId>. */
export function parseMultiaddr(text: string, peer = false): string {
  const m = multiaddr(text);
  if (peer) checkPeerMultiaddr(m);
  return m.toString();
}

/**
 * A STUN server URL as WebRTC takes it (RFC 7064): `stun:HOST[:PORT]`, HOST an IPv4 address, a bracketed
 * IPv6 address or a DNS name; PORT 1-65535 (default 3478). Returned unchanged.
 */
export function parseStunUrl(text: string): string {
  const m = /^stun:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? 3478 : Number(m[2]);
  if (!m || port < 1 || port > 65_535)
    throw new MalformedError(
      'STUN server',
      `expected stun:HOST[:PORT] such as stun:203.0.113.5:3478, not ${JSON.stringify(text.slice(0, 100))}`,
    );
  return text;
}

/** A mirror's base URL: http(s), no query or fragment, normalised to end in '/'. */
export function parseMirrorUrl(text: string): string {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError('a mirror URL must be http(s)');
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '')
    throw new TypeError('a mirror URL takes no query, fragment or credentials');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}
