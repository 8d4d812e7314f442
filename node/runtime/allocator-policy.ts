/**
 * How a node's two allocators are told to behave, once, when the node starts (docs/ARCHITECTURE.md,
 * "Memory"). A sync allocates fast and briefly: every bundle is decoded, hashed, indexed, written and
 * dropped within a step. With their defaults both allocators keep what such a burst made them grow:
 *
 *  - V8 doubles its young generation under a high allocation rate, up to 3 x 16 MiB, and grows its old
 *    generation by up to 4x between major collections (its factor for machines with a large heap limit);
 *  - glibc gives each thread that allocates (libuv's pool, LevelDB's compaction, V8's helpers) an arena of
 *    its own, raises its mmap threshold each time a large block is freed (so later large blocks land in
 *    the arenas, fragmented, instead of in mappings given back on free), and keeps what was freed.
 *
 * Measured on a node following 3 logs of 30,000 entries (bench/memory.ts): 263 MB at the peak and 198 MB
 * at rest with the defaults, while the JavaScript heap's live set stayed about 30 MB throughout.
 *
 * So: V8's young generation does not grow (it stays at its initial 1 MiB semi-spaces) and its old
 * generation grows by `heapGrowingPercent` at most; glibc uses `arenaMax` arenas and fixed thresholds, so
 * blocks of `mmapThreshold` bytes or more are mappings of their own, returned to the system when freed,
 * and free memory at the top of a heap is returned past `trimThreshold`. Both V8 flags are read by V8 each
 * time it sizes a space, so setting them in a running process takes effect (unlike --max-semi-space-size,
 * which is read once, when the heap is made). glibc's options are set through koffi's mallopt where libc is
 * glibc; environment variables (MALLOC_ARENA_MAX...) that the operator set win.
 */
import { setFlagsFromString } from 'node:v8';
import { logger } from '@libp2p/logger';

const log = logger('trustix:memory');

export interface AllocatorPolicyInit {
  /** Growth of V8's old generation between major collections, in percent. Default 30. */
  readonly heapGrowingPercent?: number;
  /** glibc malloc arenas at most. Default 2. */
  readonly arenaMax?: number;
  /** Blocks of at least this many bytes get a mapping of their own. Default 128 KiB. */
  readonly mmapThreshold?: number;
  /** Free bytes at the top of a heap past which glibc returns them. Default 128 KiB. */
  readonly trimThreshold?: number;
}

/** glibc's mallopt parameters (malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;

/**
 * What the process running a node needs from its environment, set before Node starts (the systemd unit
 * and the NixOS module in docs/deploy/ set exactly this): V8's young generation is sized when the heap is
 * made, and glibc's arena limit is best set before the first threads allocate. V8 also derives its first
 * old-generation limits from the maximum: 512 MB (over 15 times the live heap of a node, which does not
 * grow with the logs) keeps an idle node about 8 MB smaller (bench/memory.ts: 91 against 98-100 MB).
 */
export const DAEMON_ENVIRONMENT = {
  NODE_OPTIONS: '--max-semi-space-size=2 --max-old-space-size=512',
  MALLOC_ARENA_MAX: '2',
} as const;

let applied = false;

/** Applies the policy to this process (once; later calls do nothing). */
export async function applyAllocatorPolicy(init: AllocatorPolicyInit = {}): Promise<void> {
  if (applied) return;
  applied = true;
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString(`--heap-growing-percent=${init.heapGrowingPercent ?? 30}`);
  if (process.platform !== 'linux') return;
  try {
    const koffi = await import('koffi');
    const mallopt = koffi.load('libc.so.6').func('int mallopt(int param, int value)');
    const env = process.env;
    if (env['MALLOC_ARENA_MAX'] === undefined) mallopt(M_ARENA_MAX, init.arenaMax ?? 2);
    if (env['MALLOC_MMAP_THRESHOLD_'] === undefined) mallopt(M_MMAP_THRESHOLD, init.mmapThreshold ?? 131_072);
    if (env['MALLOC_TRIM_THRESHOLD_'] === undefined) mallopt(M_TRIM_THRESHOLD, init.trimThreshold ?? 131_072);
  } catch (err) {
    log('no mallopt here (%s): glibc keeps its defaults', err);
  }
}
