/**
 * The node's HTTP server (node:http, 127.0.0.1 by default): it listens, answers from the route table, and
 * sends the answers.
 *
 * Route modules (HttpRoutes) register entries of one table: a name, the paths the route owns (exact, a
 * prefix, or a test), whether it reads a query string, and a handler. The server owns the rules every
 * route shares: all routes are read-only, so GET and HEAD (same headers, no body) are answered and any
 * other method on a route's path is a 405 with `Allow: GET, HEAD`; a query string on a route that reads
 * none is a 400; a path no route owns, or a handler's `undefined`, is a 404. The checks of every request
 * before a route sees it (path, body, Host): node/http/request-checks.ts; the one place where errors
 * become HTTP statuses: node/http/http-status.ts; the server's settings: node/http/http-server-init.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { logger } from '@libp2p/logger';
import { MalformedError } from '../../protocol/errors.ts';
import { HttpListenError, NotStartedError } from '../errors.ts';
import {
  type HttpObserver,
  type HttpServerComponents,
  type HttpServerInit,
  httpServerSettings,
} from './http-server-init.ts';
import { failure, MethodNotAllowedError, NOT_FOUND } from './http-status.ts';
import { parseRequest } from './request-checks.ts';
import { type HttpResponse, type HttpRoutes, type Route, routeOwns } from './route.ts';

const log = logger('trustix:http');

/** Every route is read-only. */
const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

export class HttpServer {
  private readonly init: Required<HttpServerInit>;
  private readonly routes: Route[] = [];
  private readonly hosts: ReadonlySet<string>;
  private readonly observer: HttpObserver | undefined;
  private server: Server | undefined;

  constructor(components: HttpServerComponents, init: HttpServerInit = {}) {
    this.observer = components.observer;
    this.init = httpServerSettings(init);
    this.hosts = new Set(
      ['localhost', this.init.host, ...this.init.allowedHosts].map((h) => h.toLowerCase()),
    );
    if (this.init.headersTimeoutMs > this.init.requestTimeoutMs)
      throw new RangeError('headersTimeoutMs must not exceed requestTimeoutMs');
  }

  /** Adds a module's routes to the table; the first route that owns a path answers it. */
  register(module: HttpRoutes): void {
    this.routes.push(...module.routes);
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
      const failed = (err: NodeJS.ErrnoException) => reject(listenError(this.init.host, this.init.port, err));
      server.once('error', failed);
      server.listen(this.init.port, this.init.host, () => {
        server.off('error', failed);
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
    const answer: { route?: Route } = {};
    this.dispatch(req, answer)
      .catch((err: unknown) => failure(req, err))
      .then((response) => {
        this.respond(req, res, response);
        if (!log.enabled && observer === undefined) return;
        const ms = performance.now() - started;
        if (log.enabled) log('%s %s %d %sms', req.method, req.url, res.statusCode, ms.toFixed(2));
        try {
          observer?.response(answer.route?.name, res.statusCode, ms / 1000);
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
      this.send(res, failure(req, err));
    }
  }

  /** Answers from the table; `answer.route` is set to the route that owns the path. */
  private async dispatch(req: IncomingMessage, answer: { route?: Route }): Promise<HttpResponse> {
    const request = parseRequest(req, this.init.maxUrlBytes, this.hosts);
    const route = this.routes.find((r) => routeOwns(r, request.path));
    if (route === undefined) return NOT_FOUND;
    answer.route = route;
    if (request.method !== 'GET' && request.method !== 'HEAD')
      throw new MethodNotAllowedError(request.method, ALLOWED_METHODS);
    if (request.query !== undefined && route.query !== true)
      throw new MalformedError('request target', `query strings are not accepted by ${request.path}`);
    return (await route.handle(request)) ?? NOT_FOUND;
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

/** A listen failure as a typed error naming the address, the cause and what to do. */
function listenError(host: string, port: number, err: NodeJS.ErrnoException): HttpListenError {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const fix = 'choose another with --http HOST:PORT (or "http" in the config file)';
  const reason =
    err.code === 'EADDRINUSE'
      ? `the port is in use (another trustix node, or another program?); ${fix}`
      : err.code === 'EACCES'
        ? `no permission to use this port (ports below 1024 need privileges); ${fix}`
        : err.code === 'EADDRNOTAVAIL'
          ? `this machine has no address ${host}; ${fix}`
          : err.message;
  return new HttpListenError(address, reason, { cause: err });
}
