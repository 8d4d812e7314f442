/**
 * The name of a log resource, the grammar the HTTP log routes (after `/logs/`) and the tile exchange
 * protocol share (docs/PROTOCOL.md):
 *
 *   <logID>/checkpoint        the log's latest signed checkpoint
 *   <logID>/tile/<tile path>  a hash tile or entry bundle (protocol/tile-path.ts)
 *   <logID>/progress          the verified part of a sync under way (tile exchange only:
 *                             protocol/sync-progress.ts)
 *   <logID>/holders           peers the node served the log's entry bundles to lately (tile exchange
 *                             only: protocol/log-holders.ts)
 *
 * <logID> is 64 lowercase hex digits. Parsing is strict: a bad log ID or tile path is MalformedError;
 * a well-formed log ID followed by another resource name is undefined (not a resource we serve).
 */
import { MalformedError } from './errors.ts';
import { parseTilePath, type TileId } from './tile-path.ts';

/**
 * A log resource: the checkpoint (none of the rest), a tile, the sync progress or the holders of the log
 * `logId`.
 */
export interface LogResource {
  readonly logId: string;
  readonly tile?: TileId;
  readonly progress?: true;
  readonly holders?: true;
}

const LOG_ID = /^[0-9a-f]{64}$/;
const LOG_ID_LENGTH = 64;

/**
 * Parses `<logID>/checkpoint`, `<logID>/tile/...`, `<logID>/progress` or `<logID>/holders`; undefined for
 * another name.
 */
export function parseLogResource(path: string): LogResource | undefined {
  const logId = path.slice(0, LOG_ID_LENGTH);
  const rest = path.slice(LOG_ID_LENGTH);
  if (!LOG_ID.test(logId) || !(rest === '' || rest.startsWith('/')))
    throw new MalformedError('log ID', 'expected 64 lowercase hex digits');
  if (rest === '/checkpoint') return { logId };
  if (rest === '/progress') return { logId, progress: true };
  if (rest === '/holders') return { logId, holders: true };
  if (rest.startsWith('/tile/')) return { logId, tile: parseTilePath(rest.slice(1)) };
  return undefined;
}
