/**
 * The one seeded pseudo-random generator of the demo, the tests and the benchmarks (xorshift32): the
 * same seed gives the same sequence on every run and machine. Not for anything secret.
 */

/** Numbers in [0, 1), deterministic for a given seed. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** `n` bytes drawn from `rand`. */
export function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}
