/**
 * The node's HTTP server (node:http, 127.0.0.1 by default): limits, request-target checks, routing to
 * registered route modules, and the one place where errors become HTTP statuses.
 *
 * A route module (HttpRoutes) answers the requests whose path it owns and returns undefined for the
 * others; modules are asked in registration order and an unanswered request is a 404. Routes get the raw
 * path, already checked here: origin-form, printable ASCII, no empty or dot segments, no percent-encoded
 * dot, slash, backslash or NUL (canonical URLs never encode those), so `..` tricks never reach a route.
 * No route reads a request body: a request that carries one is refused (413).
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { logger } from '@libp2p/logger';
import { MalformedError, OutOfRangeError, TrustixError } from '../../protocol/errors.ts';
import { NodeUnavailableError, NotStartedError, StoppedError } from '../errors.ts';

const log = logger('trustix:http');

/** A request as route modules see it. */
export interface HttpRequest {
  readonly method: string;
  /** The raw (undecoded) path, checked as described above; starts with '/'. */
  readonly path: string;
  /** The raw query after '?', or undefined when the target has none. Routes decide whether to accept it. */
  readonly query: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/**
 * A response. HEAD requests get the same headers and no body. A stream body (a NAR proxied from
 * upstream) is piped, never buffered: sent with `length` as Content-Length when known, chunked
 * otherwise; a stream that fails midway cuts the connection (the client sees a truncated transfer,
 * never a wrong one), and a client that goes away destroys the stream (and whatever feeds it).
 */
export interface HttpResponse {
  /** Default 200. */
  readonly status?: number;
  /** Response headers (Content-Length is added by the server). Constant objects can be shared. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | string | Readable;
  /** Byte length of a stream body, when known. */
  readonly length?: number;
}

/** A unit of routes registered on the server. */
export interface HttpRoutes {
  /** Answers `request`, or returns undefined when its path is not one of this module's. May throw (see statusOf). */
  handle(request: HttpRequest): Promise<HttpResponse | undefined> | HttpResponse | undefined;
}

/** The path exists, but not for this method: answered 405 with `Allow`. */
export class MethodNotAllowedError extends TrustixError {
  readonly allow: readonly string[];

  constructor(method: string, allow: readonly string[]) {
    super('ERR_METHOD_NOT_ALLOWED', `method ${method} is not allowed here`);
    this.allow = allow;
  }
}

/** A request refused by the server's own limits, with the status to answer (413, 414). */
export class RequestRefusedError extends TrustixError {
  readonly status: number;

  constructor(status: number, message: string) {
    super('ERR_REQUEST_REFUSED', message);
    this.status = status;
  }
}

export interface HttpServerInit {
  /** Address to listen on. Default '127.0.0.1' (the substituter and logs are local services). */
  readonly host?: string;
  /** Port; 0 picks a free one (see address()). Default 0. */
  readonly port?: number;
  /** Concurrent connections; more are dropped on accept. Default 256. */
  readonly maxConnections?: number;
  /** Longest request target (path and query) in bytes, else 414. Default 2048. */
  readonly maxUrlBytes?: number;
  /** Request line plus headers in bytes, else 431 (node:http maxHeaderSize). Default 8192. */
  readonly maxHeaderBytes?: number;
  /** Most header lines read; the rest are ignored (node:http maxHeadersCount). Default 64. */
  readonly maxHeadersCount?: number;
  /** Time for a client to send its request headers, else 408 and close. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Time for a client to send its whole request, else 408 and close. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /**
   * Idle time a kept-alive connection is held between requests (advertised in `Keep-Alive`; node:http
   * closes about 1 s later, so a client reusing it at the limit is not cut off). Default 5 s.
   */
  readonly keepAliveTimeoutMs?: number;
  /** Idle time on a socket while a response is pending or being read, before it is destroyed. Default 60 s. */
  readonly socketIdleTimeoutMs?: number;
}

/** Told of every answered request (node/routes/metrics.ts counts and times the substituter's with it). */
export interface HttpObserver {
  /**
   * `target` is the raw request target, `status` the status sent, `seconds` the time from the request's
   * arrival to the response handed to node:http (for a streamed body: its headers). Must be cheap.
   */
  response(method: string, target: string, status: number, seconds: number): void;
}

/** The server owns no shared state; route modules bring their own components. */
export interface HttpServerComponents {
  /** Default: none. */
  readonly observer?: HttpObserver;
}

const ERROR_HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
// An empty (//) or dot segment, a backslash, or a percent-encoded dot, slash, backslash or NUL.
const BAD_PATH = /\/\/|\/\.\.?(?:\/|$)|\\|%(?:2e|2f|5c|00)/i;
// Printable ASCII only (node:http already refuses controls and spaces; this also refuses 0x7f and above).
const PATH_CHARS = /^\/[\x21-\x7e]*$/;

/** The one mapping from errors to statuses, for every route. */
function statusOf(err: unknown): number {
  if (err instanceof RequestRefusedError) return err.status;
  if (err instanceof MethodNotAllowedError) return 405;
  if (err instanceof MalformedError) return 400; // includes TooLargeError: a bad path, not a large request
  if (err instanceof OutOfRangeError) return 404; // asked for something outside the tree
  // The node is starting, stopping, or lacks the part asked for (its role): not the client's fault.
  if (err instanceof NodeUnavailableError || err instanceof NotStartedError || err instanceof StoppedError)
    return 503;
  return 500; // InternalError and anything untyped
}

export class HttpServer {
  private readonly init: Required<HttpServerInit>;
  private readonly routes: HttpRoutes[] = [];
  private readonly observer: HttpObserver | undefined;
  private server: Server | undefined;

  constructor(components: HttpServerComponents, init: HttpServerInit = {}) {
    this.observer = components.observer;
    this.init = {
      host: '127.0.0.1',
      port: 0,
      maxConnections: 256,
      maxUrlBytes: 2048,
      maxHeaderBytes: 8192,
      maxHeadersCount: 64,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      socketIdleTimeoutMs: 60_000,
      ...init,
    };
    if (this.init.headersTimeoutMs > this.init.requestTimeoutMs)
      throw new RangeError('headersTimeoutMs must not exceed requestTimeoutMs');
  }

  /** Adds a route module; modules are asked in registration order. */
  register(routes: HttpRoutes): void {
    this.routes.push(routes);
  }

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const { headersTimeoutMs, requestTimeoutMs } = this.init;
    const server = createServer(
      {
        maxHeaderSize: this.init.maxHeaderBytes,
        headersTimeout: headersTimeoutMs,
        requestTimeout: requestTimeoutMs,
        keepAliveTimeout: this.init.keepAliveTimeoutMs,
        // node:http enforces the two timeouts above only on this tick; scale it so they hold to ~25%.
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
      },
      (req, res) => {
        this.serve(req, res);
      },
    );
    server.maxConnections = this.init.maxConnections;
    server.maxHeadersCount = this.init.maxHeadersCount;
    server.setTimeout(this.init.socketIdleTimeoutMs);
    server.on('drop', () => log('connection limit of %d reached: dropped one', this.init.maxConnections));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.init.port, this.init.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => log.error('server error: %s', err.message));
    this.server = server;
    const { host, port } = this.address();
    log('listening on http://%s:%d', host, port);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** The address listened on (the real port when init.port was 0). Throws unless started. */
  address(): { host: string; port: number } {
    const info = this.server?.address() as AddressInfo | null | undefined;
    if (info === null || info === undefined) throw new NotStartedError('the HTTP server is not started');
    return { host: info.address, port: info.port };
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const { observer } = this;
    const started = log.enabled || observer !== undefined ? performance.now() : 0;
    this.dispatch(req)
      .catch((err: unknown) => this.failure(req, err))
      .then((response) => {
        this.respond(req, res, response);
        if (!log.enabled && observer === undefined) return;
        const ms = performance.now() - started;
        if (log.enabled) log('%s %s %d %sms', req.method, req.url, res.statusCode, ms.toFixed(2));
        try {
          observer?.response(req.method ?? '', req.url ?? '', res.statusCode, ms / 1000);
        } catch (err) {
          // The response is on its way: an observer's bug must not cut it.
          log.error('observer failed: %O', err);
        }
      })
      .catch((err: unknown) => {
        log.error('%s %s: could not answer: %O', req.method, req.url, err);
        res.destroy();
      });
  }

  /** Sends `response`; a response that cannot be sent (a route's bad header value) becomes a 500. */
  private respond(req: IncomingMessage, res: ServerResponse, response: HttpResponse): void {
    try {
      this.send(res, response);
    } catch (err) {
      if (response.body instanceof Readable) response.body.destroy();
      if (res.headersSent) {
        log.error('%s %s: response failed midway: %O', req.method, req.url, err);
        res.destroy();
        return;
      }
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      this.send(res, this.failure(req, err));
    }
  }

  private async dispatch(req: IncomingMessage): Promise<HttpResponse> {
    const request = this.parseRequest(req);
    for (const routes of this.routes) {
      const response = await routes.handle(request);
      if (response !== undefined) return response;
    }
    return { status: 404, headers: ERROR_HEADERS, body: 'not found\n' };
  }

  /** Checks the request target and framing; throws what statusOf maps to 400, 413 or 414. */
  private parseRequest(req: IncomingMessage): HttpRequest {
    const target = req.url ?? '';
    if (target.length > this.init.maxUrlBytes)
      throw new RequestRefusedError(414, `request target longer than ${this.init.maxUrlBytes} bytes`);
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

  private failure(req: IncomingMessage, err: unknown): HttpResponse {
    const status = statusOf(err);
    if (status >= 500) {
      // The details stay in the log; the client learns nothing about the inside.
      log.error('%s %s failed: %O', req.method, req.url, err);
      return { status, headers: ERROR_HEADERS, body: status === 503 ? 'unavailable\n' : 'internal error\n' };
    }
    const message = err instanceof Error ? err.message : String(err);
    const headers =
      err instanceof MethodNotAllowedError
        ? { ...ERROR_HEADERS, allow: err.allow.join(', ') }
        : ERROR_HEADERS;
    return { status, headers, body: `${message}\n` };
  }

  private send(res: ServerResponse, response: HttpResponse): void {
    const { body } = response;
    for (const name in response.headers) res.setHeader(name, response.headers[name]!);
    if (body instanceof Readable) {
      if (response.length !== undefined) res.setHeader('content-length', response.length);
    } else
      res.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    res.setHeader('x-content-type-options', 'nosniff');
    // The request was refused before its body was read: end the connection rather than drain it.
    if (response.status === 413) res.setHeader('connection', 'close');
    res.writeHead(response.status ?? 200);
    if (!(body instanceof Readable)) {
      res.end(body);
      return;
    }
    if (res.req.method === 'HEAD') {
      body.destroy();
      res.end();
      return;
    }
    pipeline(body, res).catch((err: unknown) => {
      log('%s %s: stream ended early: %s', res.req.method, res.req.url, (err as Error).message);
      res.destroy();
    });
  }
}
