/**
 * C2SP tlog-tiles resource paths (https://c2sp.org/tlog-tiles), tile height 8:
 *
 *   tile/<L>/<N>[.p/<W>]        hash tile: level L (0..63), index N, partial width W (1..255)
 *   tile/entries/<N>[.p/<W>]    entry bundle for the leaves of level-0 tile N
 *
 * N is written in zero-padded 3-digit groups, every group but the last prefixed with `x`:
 * 1234067 -> `x001/x234/067`, 5 -> `005`. A full tile (width 256) has no `.p/` suffix.
 * Parsing is strict: exactly the canonical form, or MalformedError('tile path').
 */
import { TILE_WIDTH } from './constants.ts';
import { MalformedError, OutOfRangeError, TooLargeError } from './errors.ts';

/** Highest tile level C2SP allows in a path. Levels above 6 hold no hash of a tree of < 2^53 leaves. */
export const MAX_TILE_LEVEL = 63;

/**
 * A hash tile: hashes [index * 256, index * 256 + width) of tree level 8 * level.
 * width is 256 for a full tile, 1..255 for a partial one.
 */
export interface HashTile {
  readonly kind: 'hash';
  readonly level: number;
  readonly index: number;
  readonly width: number;
}

/** An entry bundle: the entries of level-0 tile `index`, `width` of them (256 when full). */
export interface EntryBundleTile {
  readonly kind: 'entries';
  readonly index: number;
  readonly width: number;
}

/** Anything addressed by a tile path. */
export type TileId = HashTile | EntryBundleTile;

// Longest canonical path: "tile/entries/" + 6 groups for a 16-digit N + ".p/255" is 48 characters.
const MAX_TILE_PATH_LENGTH = 64;
const PATH_RE = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/){0,5}[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

function checkTile(tile: TileId): void {
  if (
    tile.kind === 'hash' &&
    !(Number.isInteger(tile.level) && tile.level >= 0 && tile.level <= MAX_TILE_LEVEL)
  )
    throw new OutOfRangeError(`tile level must be in [0, ${MAX_TILE_LEVEL}], got ${tile.level}`);
  if (!Number.isSafeInteger(tile.index) || tile.index < 0)
    throw new OutOfRangeError(`tile index must be an integer in [0, 2^53-1], got ${tile.index}`);
  if (!Number.isInteger(tile.width) || tile.width < 1 || tile.width > TILE_WIDTH)
    throw new OutOfRangeError(`tile width must be in [1, ${TILE_WIDTH}], got ${tile.width}`);
}

/** N in 3-digit groups, all but the last prefixed with `x`. */
function formatIndex(n: number): string {
  let s = String(n % 1000).padStart(3, '0');
  for (let rest = Math.floor(n / 1000); rest > 0; rest = Math.floor(rest / 1000))
    s = `x${String(rest % 1000).padStart(3, '0')}/${s}`;
  return s;
}

/** The path of a tile or entry bundle. Throws OutOfRangeError for a level, index or width out of range. */
export function formatTilePath(tile: TileId): string {
  checkTile(tile);
  const head = tile.kind === 'entries' ? 'tile/entries' : `tile/${tile.level}`;
  const tail = tile.width === TILE_WIDTH ? '' : `.p/${tile.width}`;
  return `${head}/${formatIndex(tile.index)}${tail}`;
}

/** Parses a canonical tile path (relative to the log prefix, no leading slash). */
export function parseTilePath(path: string): TileId {
  if (typeof path !== 'string') throw new MalformedError('tile path', 'not a string');
  if (path.length > MAX_TILE_PATH_LENGTH)
    throw new TooLargeError('tile path', path.length, MAX_TILE_PATH_LENGTH);
  const m = PATH_RE.exec(path);
  if (m === null) throw new MalformedError('tile path', JSON.stringify(path));
  const [, levelText, indexText, widthText] = m;
  const index = Number(indexText!.replaceAll('x', '').replaceAll('/', ''));
  if (!Number.isSafeInteger(index)) throw new MalformedError('tile path', `index beyond 2^53-1 in ${path}`);
  const width = widthText === undefined ? TILE_WIDTH : Number(widthText);
  if (widthText !== undefined && width >= TILE_WIDTH)
    throw new MalformedError('tile path', `partial width must be below ${TILE_WIDTH}`);
  const level = levelText === 'entries' ? -1 : Number(levelText);
  if (level > MAX_TILE_LEVEL) throw new MalformedError('tile path', `level above ${MAX_TILE_LEVEL}`);
  const tile: TileId = level < 0 ? { kind: 'entries', index, width } : { kind: 'hash', level, index, width };
  // The groups are free-form above; only the canonical spelling (no x000 lead groups) is accepted.
  if (formatTilePath(tile) !== path) throw new MalformedError('tile path', `not canonical: ${path}`);
  return tile;
}
