/**
 * The checks of the node's HTTP server (node/http/server.ts) on every request before any route sees it:
 * its HTTP version, Host, target length, framing and path. Apart from the server because they are the
 * one defence of the routes against path tricks and DNS rebinding, read best on their own.
 *
 * Handlers get the raw path, already checked here: origin-form, printable ASCII, no empty or dot
 * segments, no percent-encoded dot, slash, backslash or NUL (canonical URLs never encode those), so `..`
 * tricks never reach a route. No route reads a request body: a request that carries one is refused (413).
 *
 * The Host header is checked against the names this server is for (docs/SECURITY.md, "The local HTTP
 * server"): a web page cannot read the node's API through DNS rebinding, because its requests carry
 * the attacker's host name, answered 421.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { MalformedError } from '../../protocol/errors.ts';
import { RequestRefusedError } from './http-status.ts';
import type { HttpRequest } from './route.ts';

// A Host header: a reg-name or IPv4 address, or a bracketed IPv6 address, then an optional port.
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9._~-]+))(?::[0-9]{1,5})?$/i;

/** The host name (lower case, IPv6 without brackets) of a Host header, or undefined when malformed. */
function hostName(header: string): string | undefined {
  const m = HOST_HEADER.exec(header);
  if (m === null) return undefined;
  return (m[1] ?? m[2]!).toLowerCase();
}
// An empty (//) or dot segment, a backslash, or a percent-encoded dot, slash, backslash or NUL.
const BAD_PATH = /\/\/|\/\.\.?(?:\/|$)|\\|%(?:2e|2f|5c|00)/i;
// Printable ASCII only (node:http already refuses controls and spaces; this also refuses 0x7f and above).
const PATH_CHARS = /^\/[\x21-\x7e]*$/;

/**
 * Checks the request target, framing and host; throws what statusOf maps to 400, 413, 414, 421 or 505.
 * `hosts` are the names this server is for (lower case), `maxUrlBytes` its HttpServerInit's.
 */
export function parseRequest(
  req: IncomingMessage,
  maxUrlBytes: number,
  hosts: ReadonlySet<string>,
): HttpRequest {
  const target = req.url ?? '';
  // An HTTP/0.9-style request line ("GET /") carries no headers, so no Host to check: refused.
  if (req.httpVersionMajor !== 1) throw new RequestRefusedError(505, 'only HTTP/1.0 and HTTP/1.1 are served');
  checkHost(req.headers.host, hosts);
  if (target.length > maxUrlBytes)
    throw new RequestRefusedError(414, `request target longer than ${maxUrlBytes} bytes`);
  const headers = req.headers;
  const length = headers['content-length'];
  if (headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0'))
    throw new RequestRefusedError(413, 'request bodies are not accepted');
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  if (!PATH_CHARS.test(path)) throw new MalformedError('request target', 'expected an absolute path');
  if (BAD_PATH.test(path))
    throw new MalformedError(
      'request target',
      'empty or dot segment, backslash or encoded dot/slash in path',
    );
  if (target.includes('#')) throw new MalformedError('request target', 'fragment in request target');
  return { method: req.method ?? '', path, query: q < 0 ? undefined : target.slice(q + 1), headers };
}

/**
 * Accepts a Host naming this server: `localhost`, an IP literal (a page whose origin is an address is
 * that address's own page, so no rebinding target), the listen host, or a configured name. HTTP/1.0
 * requests may omit Host (node:http refuses HTTP/1.1 ones without it).
 */
function checkHost(header: string | undefined, hosts: ReadonlySet<string>): void {
  if (header === undefined) return;
  const name = hostName(header);
  if (name !== undefined && (isIP(name) !== 0 || hosts.has(name))) return;
  throw new RequestRefusedError(
    421,
    `this server does not answer for host ${JSON.stringify(header.slice(0, 255))}; ` +
      'a name the node is reached by must be listed in the configuration ("httpHosts")',
  );
}
