/**
 * Realistic synthetic log entries (Nix fingerprints) for tests and benchmarks: random store paths with
 * package-like names, NAR sizes spread over a few orders of magnitude, and 0-20 references drawn mostly
 * from a small set of popular paths (glibc, bash, ...), as in real closures.
 */

import { prng, randomBytes } from '../../node/demo/prng.ts';
import { encodeNix32 } from '../../protocol/nix32.ts';

export { prng };

const NAMES = [
  'glibc-2.39',
  'bash-5.2p26',
  'coreutils-9.5',
  'openssl-3.0.14',
  'zlib-1.3.1',
  'python3-3.12.4',
  'perl-5.38.2',
  'gcc-13.2.0-lib',
  'libffi-3.4.6',
  'ncurses-6.4',
  'hello-2.12.1',
  'curl-8.8.0',
  'git-2.45.2',
];

export function randomStorePath(rand: () => number, name?: string): string {
  const pick = name ?? NAMES[Math.floor(rand() * NAMES.length)]!;
  return `/nix/store/${encodeNix32(randomBytes(rand, 20))}-${pick}`;
}

export function randomNarHash(rand: () => number): string {
  return `sha256:${encodeNix32(randomBytes(rand, 32))}`;
}

/** The fingerprint of `path` with the given NAR hash, size and references (sorted here). */
export function fingerprint(
  path: string,
  narHash: string,
  narSize: number,
  references: readonly string[],
): string {
  return `1;${path};${narHash};${narSize};${[...references].sort().join(',')}`;
}

/** `count` entries with 0-20 references each, deterministic for a given seed. */
export function* syntheticEntries(count: number, seed = 1): Generator<string> {
  const rand = prng(seed);
  const popular = Array.from({ length: 64 }, () => randomStorePath(rand));
  const recent: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = randomStorePath(rand);
    const refs = new Set<string>();
    const n = Math.floor(rand() * 21);
    for (let r = 0; r < n; r++) {
      // Most references are popular libraries; some are paths built shortly before.
      const pool = rand() < 0.8 || recent.length === 0 ? popular : recent;
      refs.add(pool[Math.floor(rand() * rand() * pool.length)]!);
    }
    const narSize = 128 + Math.floor(rand() ** 3 * 50_000_000);
    yield fingerprint(path, randomNarHash(rand), narSize, [...refs]);
    recent.push(path);
    if (recent.length > 256) recent.shift();
  }
}
