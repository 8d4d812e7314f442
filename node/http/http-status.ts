/**
 * The one place where errors become HTTP statuses, for every route: the server's own typed errors
 * (MethodNotAllowedError, RequestRefusedError), statusOf, and the error answers built from it. Apart from
 * the server so that its request checks (node/http/request-checks.ts) throw the same typed errors without
 * importing the server, and so that the mapping stays in one place whoever throws.
 */
import type { IncomingMessage } from 'node:http';
import { logger } from '@libp2p/logger';
import { MalformedError, OutOfRangeError, TrustixError } from '../../protocol/errors.ts';
import { NodeUnavailableError, NotStartedError, StoppedError } from '../errors.ts';
import type { HttpResponse } from './route.ts';

const log = logger('trustix:http');

/** The path exists, but not for this method: answered 405 with `Allow`. */
export class MethodNotAllowedError extends TrustixError {
  readonly allow: readonly string[];

  constructor(method: string, allow: readonly string[]) {
    super('ERR_METHOD_NOT_ALLOWED', `method ${method} is not allowed here`);
    this.allow = allow;
  }
}

/** A request refused by the server's own limits or checks, with the status to answer (413, 414, 421, 505). */
export class RequestRefusedError extends TrustixError {
  readonly status: number;

  constructor(status: number, message: string) {
    super('ERR_REQUEST_REFUSED', message);
    this.status = status;
  }
}

const ERROR_HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
export const NOT_FOUND: HttpResponse = { status: 404, headers: ERROR_HEADERS, body: 'not found\n' };

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

/** The answer to a request that failed with `err`, its status from statusOf. */
export function failure(req: IncomingMessage, err: unknown): HttpResponse {
  const status = statusOf(err);
  if (status >= 500) {
    // The details stay in the log; the client learns nothing about the inside.
    log.error('%s %s failed: %O', req.method, req.url, err);
    return { status, headers: ERROR_HEADERS, body: status === 503 ? 'unavailable\n' : 'internal error\n' };
  }
  const message = err instanceof Error ? err.message : String(err);
  const headers =
    err instanceof MethodNotAllowedError ? { ...ERROR_HEADERS, allow: err.allow.join(', ') } : ERROR_HEADERS;
  return { status, headers, body: `${message}\n` };
}
