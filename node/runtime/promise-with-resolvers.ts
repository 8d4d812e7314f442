/**
 * `Promise.withResolvers` (ES2024) for Node 20, which lacks it and which libp2p 3 and its dependencies
 * call (ping, stream utilities). Import this module for its side effect, before anything that loads
 * libp2p: every entry point and every test that starts a libp2p node.
 */

declare global {
  interface PromiseWithResolvers<T> {
    promise: Promise<T>;
    resolve: (value: T | PromiseLike<T>) => void;
    reject: (reason?: unknown) => void;
  }
  interface PromiseConstructor {
    withResolvers<T>(): PromiseWithResolvers<T>;
  }
}

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T>(): PromiseWithResolvers<T> {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      // `this`, not `Promise`: the spec lets subclasses call it (`MyPromise.withResolvers()`).
      const promise = new (this as PromiseConstructor)<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export {};
