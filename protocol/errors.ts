/**
 * Typed errors of the protocol layer. Each class has a stable `name` and `code`
 * that edges (HTTP, gossip validators, CLI exit codes) map once.
 *
 * - MalformedError: bytes that do not parse strictly and canonically.
 * - TooLargeError: input over a size cap (a MalformedError: the input is refused unread).
 * - VerificationError: well-formed input whose signature, hash or proof does not check.
 * - OutOfRangeError: a caller asked for something outside the tree (index >= size, ...).
 */
export class TrustixError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Input that is not a valid, canonical encoding of `what` (e.g. 'checkpoint', 'narinfo'). */
export class MalformedError extends TrustixError {
  readonly what: string;

  constructor(what: string, message: string, options?: ErrorOptions) {
    super('ERR_MALFORMED', `malformed ${what}: ${message}`, options);
    this.what = what;
  }
}

/** Input longer than the cap for `what`; refused before parsing. */
export class TooLargeError extends MalformedError {
  readonly limit: number;
  readonly size: number;

  constructor(what: string, size: number, limit: number) {
    super(what, `${size} bytes exceeds the limit of ${limit}`);
    (this as { code: string }).code = 'ERR_TOO_LARGE';
    this.limit = limit;
    this.size = size;
  }
}

/** A signature, hash or proof that does not verify. */
export class VerificationError extends TrustixError {
  readonly what: string;

  constructor(what: string, message: string, options?: ErrorOptions) {
    super('ERR_VERIFICATION', `${what} does not verify: ${message}`, options);
    this.what = what;
  }
}

/** A request outside the tree or the value range (index >= size, size over 2^53-1, ...). */
export class OutOfRangeError extends TrustixError {
  constructor(message: string) {
    super('ERR_OUT_OF_RANGE', message);
  }
}
