/**
 * The peers a node knows to hold a log, as the tile exchange answers `<logID>/holders` (docs/PROTOCOL.md,
 * "Tile exchange"): the peers it served the log's entry bundles to lately, which hold them or are
 * verifying them (a sync serves what it verified). A peer told busy asks for them and fetches from them
 * instead of waiting (peer exchange, as BitTorrent's PEX). The body is one PeerId per line, in the text
 * form libp2p prints (base58btc), each line ended by "\n":
 *
 *   12D3KooWAbc...\n
 *   12D3KooWXyz...\n
 *
 * 1 to MAX_LOG_HOLDERS lines, each 1 to MAX_PEER_ID_CHARS characters of the base58btc alphabet, no line
 * twice. Parsing is strict; whether a line is a valid PeerId is the network layer's to check (this module
 * does no I/O and knows no multihash).
 */
import { MAX_LOG_HOLDERS, MAX_PEER_ID_CHARS } from './constants.ts';
import { MalformedError, TooLargeError } from './errors.ts';

/** Largest holders body. */
export const MAX_LOG_HOLDERS_BYTES = MAX_LOG_HOLDERS * (MAX_PEER_ID_CHARS + 1);

const PEER_ID = new RegExp(`^[1-9A-HJ-NP-Za-km-z]{1,${MAX_PEER_ID_CHARS}}$`);
const ascii = new TextDecoder('ascii');
const encoder = new TextEncoder();

/** The body listing `peers` (PeerId strings). Throws RangeError for an empty, long or invalid list. */
export function formatLogHolders(peers: readonly string[]): Uint8Array {
  checkHolders(peers, (message) => new RangeError(`log holders: ${message}`));
  return encoder.encode(peers.map((p) => `${p}\n`).join(''));
}

/** Parses a holders body into its PeerId strings. Throws MalformedError (TooLargeError past the cap). */
export function parseLogHolders(body: Uint8Array): string[] {
  if (body.length > MAX_LOG_HOLDERS_BYTES)
    throw new TooLargeError('log holders', body.length, MAX_LOG_HOLDERS_BYTES);
  const text = ascii.decode(body);
  if (!text.endsWith('\n')) throw new MalformedError('log holders', 'expected lines ended by "\\n"');
  const peers = text.slice(0, -1).split('\n');
  checkHolders(peers, (message) => new MalformedError('log holders', message));
  return peers;
}

function checkHolders(peers: readonly string[], error: (message: string) => Error): void {
  if (peers.length === 0 || peers.length > MAX_LOG_HOLDERS)
    throw error(`${peers.length} peers, expected 1 to ${MAX_LOG_HOLDERS}`);
  const bad = peers.find((p) => !PEER_ID.test(p));
  if (bad !== undefined) throw error(`not a PeerId in base58btc: ${JSON.stringify(bad.slice(0, 80))}`);
  if (new Set(peers).size !== peers.length) throw error('a peer listed twice');
}
