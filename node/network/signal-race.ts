/**
 * `raceSignal`: a promise awaited no longer than a signal allows. Shared by the clients that wait for
 * something others started (a dial, a first stream's negotiation) without making it their own: their
 * abort ends their wait, not the work.
 */

/** `promise`, or `signal`'s reason once it aborts first. */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
