/**
 * How a sync checks one fetched entry bundle (node/sync/log-sync.ts, step 3). Its level-0 tile is not
 * fetched: it is the entries' leaf hashes, computed here and checked like a fetched tile would be
 * (against its hash in the verified tile above, or, for the partial tile, against the verified edge).
 * Half the requests, and the same proof that every byte is in the signed tree. A bundle that does not
 * verify is the source's fault (VerificationError); once verified, the bytes are the log's own, so a
 * non-entry (InvalidLogEntryError) or an entry beyond the per-log quotas (LogLimitError) is the log's.
 */
import { HASH_SIZE, TILE_WIDTH } from '../../protocol/constants.ts';
import { checkEntry } from '../../protocol/entry.ts';
import { decodeEntryBundle } from '../../protocol/entry-bundle.ts';
import { VerificationError } from '../../protocol/errors.ts';
import { hashesEqual, leafHash } from '../../protocol/merkle.ts';
import type { HashTile } from '../../protocol/tile-path.ts';
import { InvalidLogEntryError } from '../errors.ts';
import { checkEntryQuota, type LogQuotaInit } from './log-quota.ts';
import type { RemoteTree } from './remote-tree.ts';
import type { VerifiedBundle } from './sync-stage.ts';

export interface BundleCheck {
  readonly logId: string;
  /** The local tree's size: entries below it are held already (not indexed, not counted again). */
  readonly fromSize: number;
  readonly quota: Required<LogQuotaInit> & { readonly storeDir: string };
}

/** Verifies `bundle`, the entries of level-0 tile `tile` of `tree`, and returns it ready to store. */
export function checkBundle(
  bundle: Uint8Array,
  tile: HashTile,
  tree: RemoteTree,
  c: BundleCheck,
): VerifiedBundle {
  const i = tile.index;
  const known = tree.get(tile);
  const entries = decodeEntryBundle(bundle, tile.width);
  const data = new Uint8Array(tile.width * HASH_SIZE);
  entries.forEach((entry, j) => {
    data.set(leafHash(entry), j * HASH_SIZE);
  });
  if (known === undefined) tree.verifyFull(tile, data);
  else if (!hashesEqual(data, known))
    throw new VerificationError('entry bundle', `bundle ${i} does not match the verified edge tile`);
  const hashParts = new Uint32Array(entries.length);
  const firstNew = Math.max(0, c.fromSize - i * TILE_WIDTH);
  entries.forEach((entry, j) => {
    try {
      hashParts[j] = checkEntry(entry, c.quota.storeDir) + entry.byteOffset - bundle.byteOffset;
    } catch (cause) {
      throw new InvalidLogEntryError(c.logId, i * TILE_WIDTH + j, { cause });
    }
    if (j >= firstNew) checkEntryQuota(c.logId, i * TILE_WIDTH + j, entry, c.quota);
  });
  // Each entry is its 2-byte length and its bytes: those from entry firstNew on are new here.
  const newFrom = firstNew < entries.length ? entries[firstNew]!.byteOffset - 2 - bundle.byteOffset : 0;
  const newBytes = firstNew < entries.length ? bundle.length - newFrom : 0;
  // A view into a larger buffer (several responses read at once) would pin all of it until the step is
  // stored: the bundle gets its own copy then.
  const own = bundle.byteLength === bundle.buffer.byteLength ? bundle : new Uint8Array(bundle);
  return { index: i, tile: { tile, data }, bundle: own, firstNew, hashParts, newBytes };
}
