/**
 * Every protocol identifier, topic and limit, in one place (docs/PROTOCOL.md).
 * Other nodes depend on the identifiers; change them only with the design.
 */

/** Kademlia DHT protocol: a private DHT, not the IPFS one. */
export const DHT_PROTOCOL = '/trustix/kad/1.0.0';
/** Tile exchange: one length-prefixed request per stream. */
export const TILES_PROTOCOL = '/trustix/tiles/1.0.0';
/** Tile exchange, as 1.0.0 but an entry bundle may be answered deflated (TILE_STATUS.deflated). */
export const TILES_PROTOCOL_DEFLATE = '/trustix/tiles/1.1.0';
/**
 * Tile exchange, as 1.1.0 but a stream carries a session: requests one after another, answered in order
 * (docs/PROTOCOL.md, "Tile exchange sessions").
 */
export const TILES_PROTOCOL_SESSION = '/trustix/tiles/1.2.0';
/** The tile exchange's versions, newest first: what a client proposes and a server serves. */
export const TILES_PROTOCOLS = [TILES_PROTOCOL_SESSION, TILES_PROTOCOL_DEFLATE, TILES_PROTOCOL] as const;
/**
 * Tile exchange sessions: most requests a client has unanswered on one session. A server reads no
 * further ahead than this (it works on that many answers at once); a client that sends more waits.
 */
export const TILE_SESSION_DEPTH = 64;
/**
 * Tile exchange: bytes a client may send ahead of what the server has read, on a stream of any version;
 * past it the stream is reset. Far above a request of MAX_TILE_REQUEST_BYTES (one somewhat too long still
 * gets its status 2) and above TILE_SESSION_DEPTH of them; a flood is cut off here.
 */
export const TILE_REQUEST_BUFFER_BYTES = 64 * 1024;
/** Gossip topic for signed checkpoints: vkey line + '\n' + checkpoint note. */
export const CHECKPOINT_TOPIC = '/trustix/checkpoint/1.0.0';
/** Gossip topic for fork evidence documents. */
export const EVIDENCE_TOPIC = '/trustix/evidence/1.0.0';

/** Size of a SHA-256 hash, the only hash of the tree. */
export const HASH_SIZE = 32;
/** C2SP tlog-tiles: tiles have height 8, so a full tile holds 256 hashes or entries. */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 1 << TILE_HEIGHT;

/** Largest log entry (a Nix fingerprint); the 2-byte length prefix of entry bundles allows no more. */
export const MAX_ENTRY_BYTES = 65_535;
/** Largest tree size we represent exactly: sizes and indices are safe integers. */
export const MAX_TREE_SIZE = Number.MAX_SAFE_INTEGER;
/** Largest signed note (checkpoint, evidence part) accepted from outside. */
export const MAX_NOTE_BYTES = 16 * 1024;
/** Most signature lines a note may carry (C2SP signed-note allows verifiers to cap this). */
export const MAX_NOTE_SIGNATURES = 16;
/**
 * Witness cosignatures (docs/PROTOCOL.md, "Witness cosignatures"): most kept on one checkpoint (with the
 * log's own signature they fill a note's MAX_NOTE_SIGNATURES), which also bounds a followed log's
 * configured witnesses; how far in the future a cosignature's timestamp may lie (clock skew).
 */
export const MAX_CHECKPOINT_COSIGNATURES = MAX_NOTE_SIGNATURES - 1;
export const MAX_COSIGNATURE_FUTURE_SECONDS = 600;
/** Longest key name / checkpoint origin. */
export const MAX_KEY_NAME_BYTES = 256;
/** Most hashes in an inclusion or consistency proof (2 * 64 covers any 64-bit tree). */
export const MAX_PROOF_HASHES = 128;
/** Largest narinfo accepted from an upstream cache. */
export const MAX_NARINFO_BYTES = 1024 * 1024;
/** Largest fork-evidence document. */
export const MAX_EVIDENCE_BYTES = 64 * 1024;
/** Largest full tile body: 256 hashes, or an entry bundle of 256 maximal entries. */
export const MAX_TILE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES);
/** Tile exchange: longest request. A `<logID>/tile/...` path is at most 113 bytes; the rest is headroom. */
export const MAX_TILE_REQUEST_BYTES = 256;
/**
 * Tile exchange: the status byte that starts every response (docs/PROTOCOL.md, "Tile exchange").
 * `deflated` (the body is raw DEFLATE of an entry bundle) only over TILES_PROTOCOL_DEFLATE and _SESSION.
 */
export const TILE_STATUS = { ok: 0, notFound: 1, badRequest: 2, busy: 3, deflated: 4 } as const;
/** PeerIds in an answer to `<logID>/holders` (protocol/log-holders.ts), and characters in one. */
export const MAX_LOG_HOLDERS = 8;
export const MAX_PEER_ID_CHARS = 64;

/** Lookups: a path's entries of one log with inclusion proofs, one request per stream (docs/PROTOCOL.md). */
export const LOOKUP_PROTOCOL = '/trustix/lookup/1.0.0';
/**
 * Lookups, as 1.0.0 but a stream carries a session: requests one after another, answered in order
 * (docs/PROTOCOL.md, "Lookups"; the framing of "Tile exchange sessions").
 */
export const LOOKUP_PROTOCOL_SESSION = '/trustix/lookup/1.1.0';
/** The lookups' versions, newest first: what a client proposes and a server serves. */
export const LOOKUP_PROTOCOLS = [LOOKUP_PROTOCOL_SESSION, LOOKUP_PROTOCOL] as const;
/** Lookup sessions: most requests a client has unanswered on one session; a server reads no further. */
export const LOOKUP_SESSION_DEPTH = 32;
/**
 * Lookups: bytes a client may send ahead of what the server has read, on a stream of either version;
 * past it the stream is reset. Above LOOKUP_SESSION_DEPTH requests of 73 bytes, and a request somewhat
 * too long still gets its status 2.
 */
export const LOOKUP_REQUEST_BUFFER_BYTES = 8 * 1024;
/** Lookups: bytes of answers made and not yet written, all peers together; beyond, `busy`. */
export const LOOKUP_MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024;
/** Lookups: the status byte that starts every response. */
export const LOOKUP_STATUS = { ok: 0, notHeld: 1, badRequest: 2, busy: 3, tooMany: 4 } as const;
/** Lookups: most entries one answer carries; a log holding more for the path answers `tooMany`. */
export const MAX_LOOKUP_ENTRIES = 64;
/** Lookups: largest answer (a path's entries are a few hundred bytes each). */
export const MAX_LOOKUP_RESPONSE_BYTES = 1024 * 1024;
/** Lookups: time for the request to arrive, and for one whole exchange seen from the asker, in ms. */
export const LOOKUP_REQUEST_TIMEOUT_MS = 5_000;
export const LOOKUP_TIMEOUT_MS = 10_000;
/** Lookups: concurrent inbound lookup streams per connection (libp2p resets the excess). */
export const LOOKUP_MAX_STREAMS = 32;
/** Lookups: requests one peer may make per second; the rest are answered `busy`. */
export const LOOKUP_RATE_PER_PEER = 2_000;
/** Lookups: providers asked at once for one path of one log. */
export const LOOKUP_PARALLEL = 2;

/**
 * Checkpoint catch-up (docs/PROTOCOL.md "Checkpoint catch-up"): a node asks a peer it connects to for the
 * newest checkpoints it knows of the logs the asker follows, which gossip never repeats to a late joiner
 * (a republished checkpoint is a duplicate to every node that has it, so it is not forwarded).
 * One request per stream.
 */
export const CATCHUP_PROTOCOL = '/trustix/checkpoints/1.0.0';
/** Catch-up: the status byte that starts every response (the same codes as the tile exchange's). */
export const CATCHUP_STATUS = { ok: 0, badRequest: 2, busy: 3 } as const;
/** Catch-up: most log IDs one request names; an asker that follows more sends several requests. */
export const MAX_CATCHUP_LOGS = 256;
/** Catch-up: most checkpoint messages per answer: per log its largest and its newest with a quorum. */
export const MAX_CATCHUP_CHECKPOINTS = 2 * MAX_CATCHUP_LOGS;
/** Catch-up: largest answer; a server stops adding checkpoints before passing it. */
export const MAX_CATCHUP_RESPONSE_BYTES = 1024 * 1024;
/** Catch-up: time for the request to arrive, and for one whole exchange seen from the asker, in ms. */
export const CATCHUP_REQUEST_TIMEOUT_MS = 5_000;
export const CATCHUP_TIMEOUT_MS = 10_000;
/** Catch-up: concurrent inbound catch-up streams per connection (libp2p resets the excess). */
export const CATCHUP_MAX_STREAMS = 4;
/** Catch-up: requests one peer may make per CATCHUP_RATE_WINDOW_MS; the rest are answered `busy`. */
export const CATCHUP_RATE_PER_PEER = 16;
export const CATCHUP_RATE_WINDOW_MS = 60_000;
/** Catch-up: an asker asks one peer at most once per this interval (on connect, on identify). */
export const CATCHUP_INTERVAL_MS = 60_000;

/**
 * mDNS service tag Trustix nodes announce and query on a LAN (@libp2p/mdns), so that they find each
 * other and not every libp2p application on the network (whose tag is `_p2p._udp.local`).
 */
export const MDNS_SERVICE_TAG = '_trustix._udp.local';
/**
 * Circuit relay v2 limits of a relaying node (docs/ARCHITECTURE.md, "Reaching nodes behind NAT"):
 * libp2p's default (128 KiB and 2 minutes per relayed connection) stops a sync after ~400 entries; these
 * carry a 100,000-entry log (about 35 MB) while bounding what one relayed connection costs the relay.
 */
export const RELAY_MAX_RESERVATIONS = 128;
export const RELAY_DATA_LIMIT_BYTES = 64 * 1024 * 1024;
export const RELAY_DURATION_LIMIT_MS = 10 * 60 * 1000;
/**
 * DHT provider records one peer may place in a node's datastore, over all CIDs (node/network/provider-cap.ts).
 * An honest node provides its own log, the logs it follows in full and the rendezvous CID: far fewer.
 */
export const MAX_PROVIDER_RECORDS_PER_PEER = 1024;
/** Relay reservations a private node holds, so that it stays reachable when one relay leaves. */
export const RELAY_RESERVATIONS = 2;
/**
 * Ping streams per connection, each way. libp2p's connection monitor pings every connection once per
 * interval (a minute here, CONNECTION_PING_INTERVAL_MS; 10 s in libp2p and in older Trustix nodes) with
 * an adaptive timeout of up to 60 s, so on a slow link several of its pings may run at once, beside the
 * kad-dht's. With the ping service's own limit (1 outbound stream), a ping still
 * running when the next one started (loss, a loaded machine) failed with
 * TooManyOutboundProtocolStreamsError, which the monitor takes for a dead peer: it aborted live
 * connections, and relayed syncs were reset. Inbound matches, since every peer pings the same way.
 */
export const PING_MAX_STREAMS = 8;

/**
 * The public libp2p DHT (Amino, the one IPFS nodes run), used only as a meeting point: Trustix nodes
 * provide and look up the rendezvous CID and log CIDs there (docs/PROTOCOL.md, "Rendezvous").
 */
export const PUBLIC_DHT_PROTOCOL = '/ipfs/kad/1.0.0';
/** Where the public DHT's records live in libp2p's datastore (the private DHT's: kad-dht's default, `/dht`). */
export const PUBLIC_DHT_DATASTORE_PREFIX = '/amino';
/** The rendezvous CID is CIDv1(raw, sha2-256 of these UTF-8 bytes). */
export const RENDEZVOUS_NAMESPACE = 'trustix rendezvous v1';
