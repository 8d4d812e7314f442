/**
 * Bounded, abortable waiting for `trustix demo`: every wait has a time limit and a name for the error,
 * and stops at once when the demo's signal aborts.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** A step of the demo that did not happen in time. */
export class DemoTimeoutError extends Error {
  override readonly name = 'DemoTimeoutError';
}

export interface WaitContext {
  readonly signal?: AbortSignal | undefined;
  /** Time limit of one wait, in ms. */
  readonly timeoutMs: number;
}

/**
 * Polls `check` until it returns something other than undefined or false, and returns that.
 * DemoTimeoutError naming `what` after `ctx.timeoutMs`; the signal's reason when it aborts.
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ctx: WaitContext,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + ctx.timeoutMs;
  for (;;) {
    ctx.signal?.throwIfAborted();
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new DemoTimeoutError(
        `${what}: not done within ${Math.round(ctx.timeoutMs / 1000)} s (is the machine very busy? try fewer --entries)`,
      );
    await sleep(intervalMs, undefined, ctx.signal ? { signal: ctx.signal } : {});
  }
}

/** `promise`, or DemoTimeoutError naming `what` after `ctx.timeoutMs`, or the signal's abort. */
export function within<T>(what: string, promise: Promise<T>, ctx: WaitContext): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DemoTimeoutError(`${what}: not done within ${Math.round(ctx.timeoutMs / 1000)} s`)),
      ctx.timeoutMs,
    );
    const { signal } = ctx;
    if (signal !== undefined) {
      onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  return Promise.race([promise, late]).finally(() => {
    clearTimeout(timer);
    if (onAbort !== undefined) ctx.signal?.removeEventListener('abort', onAbort);
  });
}

/** Resolves when `signal` aborts (never without one). */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Whether `err` is the demo's signal aborting (not a failure). */
export function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return (
    signal?.aborted === true && (err === signal.reason || (err as Error | undefined)?.name === 'AbortError')
  );
}
