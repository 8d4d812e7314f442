/**
 * The examples in docs/PROTOCOL.md are real: each one parses and verifies with the protocol modules.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import test from 'ava';
import { openCheckpoint } from '../protocol/checkpoint.ts';
import {
  encodeCatchupRequest,
  encodeCatchupResponse,
  parseCatchupRequest,
  parseCatchupResponse,
} from '../protocol/checkpoint-catchup.ts';
import { formatEntry, parseEntry } from '../protocol/entry.ts';
import { verifyEvidence } from '../protocol/evidence.ts';
import { parseCheckpointMessage } from '../protocol/gossip-message.ts';
import { parseLogKey } from '../protocol/keys.ts';
import { formatLogHolders, parseLogHolders } from '../protocol/log-holders.ts';
import { encodeLookupRequest, parseLookupRequest } from '../protocol/lookup.ts';
import { leafHash, rootFromLeafHashes } from '../protocol/merkle.ts';
import { formatSyncProgress, openSyncProgress } from '../protocol/sync-progress.ts';
import { VECTORS } from './helpers/nix-fixtures.ts';

const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'PROTOCOL.md'), 'utf8');

function example(name: string): string {
  const m = new RegExp(`<!-- example: ${name} -->\\n\`\`\`\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!m) throw new Error(`no example ${name} in docs/PROTOCOL.md`);
  return m[1]!;
}

const field = (text: string, label: string) => new RegExp(`^${label}:\\s+(\\S+)$`, 'm').exec(text)![1]!;

test('PROTOCOL.md keys: the Nix public key gives the vkey and log ID shown', (t) => {
  const text = example('keys');
  const fromNix = parseLogKey(field(text, 'Nix public key'));
  const fromVkey = parseLogKey(field(text, 'vkey'));
  t.is(fromNix.vkey, field(text, 'vkey'));
  t.is(fromNix.logId, field(text, 'log ID'));
  t.is(fromVkey.logId, fromNix.logId);
});

test('PROTOCOL.md entries: canonical, and equal to the fingerprints Nix signed', (t) => {
  const fingerprints = new Set(VECTORS.vectors.map((v) => v.fingerprint));
  for (const line of example('entries').trimEnd().split('\n')) {
    t.is(formatEntry(parseEntry(line)), line);
    t.true(fingerprints.has(line));
  }
});

test('PROTOCOL.md checkpoint: verifies with the vkey and commits to the five example entries', (t) => {
  const key = parseLogKey(field(example('keys'), 'vkey'));
  const cp = openCheckpoint(new TextEncoder().encode(example('checkpoint')), key.verifier);
  t.is(cp.size, 5);
  const root = rootFromLeafHashes(
    VECTORS.vectors.map((v) => leafHash(new TextEncoder().encode(v.fingerprint))),
  );
  t.deepEqual(Buffer.from(cp.root), Buffer.from(root));
});

test('PROTOCOL.md checkpoint message: parses and verifies with the key it names', (t) => {
  const message = parseCheckpointMessage(new TextEncoder().encode(example('checkpoint-message')));
  t.is(message.logKey.logId, field(example('keys'), 'log ID'));
  t.is(message.checkpoint.size, 5);
});

test('PROTOCOL.md evidence: verifies with nothing but its own bytes', (t) => {
  const ev = verifyEvidence(new TextEncoder().encode(example('evidence')));
  t.is(ev.a.size, 3);
  t.is(ev.b.size, 6);
});

test('PROTOCOL.md lookups: the example request is the test log, the path hash and size 5', (t) => {
  const bytes = new Uint8Array(Buffer.from(example('lookup-request').replace(/\s/g, ''), 'hex'));
  const key = parseLogKey(field(example('keys'), 'vkey'));
  t.deepEqual(parseLookupRequest(bytes), {
    logId: key.logId,
    hashPart: '0123456789abcdfghijklmnpqrsvwxyz',
    size: 5,
  });
  t.deepEqual(encodeLookupRequest(parseLookupRequest(bytes)), bytes);
});

test('PROTOCOL.md catch-up: the example asks about the test log, and the answer is the example message', (t) => {
  const hex = (name: string) => new Uint8Array(Buffer.from(example(name).replace(/\s/g, ''), 'hex'));
  const key = parseLogKey(field(example('keys'), 'vkey'));
  t.deepEqual(parseCatchupRequest(hex('catchup-request')), [key.logId]);
  t.deepEqual(encodeCatchupRequest([key.logId]), hex('catchup-request'));
  const message = new TextEncoder().encode(example('checkpoint-message'));
  const answer = parseCatchupResponse(hex('catchup-response'), new Set([key.logId]));
  t.deepEqual(answer, { status: 0, messages: [message] });
  t.deepEqual(encodeCatchupResponse({ status: 0, messages: [message] }), hex('catchup-response'));
  t.is(parseCheckpointMessage(message).checkpoint.size, 5);
});

test('PROTOCOL.md sync progress: the example claims all 5 leaves of the example checkpoint', (t) => {
  const bytes = new Uint8Array(Buffer.from(example('sync-progress').replace(/\s/g, ''), 'hex'));
  const key = parseLogKey(field(example('keys'), 'vkey'));
  const claim = openSyncProgress(bytes, key.verifier);
  t.is(claim.verified, 5);
  t.deepEqual(claim.target.note, new TextEncoder().encode(example('checkpoint')));
  t.deepEqual(formatSyncProgress(5, claim.target), bytes);
});

test('PROTOCOL.md holders: the example lists two PeerIds, one per line', (t) => {
  const bytes = new TextEncoder().encode(example('log-holders'));
  const peers = parseLogHolders(bytes);
  t.is(peers.length, 2);
  for (const peer of peers) t.is(peerIdFromString(peer).toString(), peer);
  t.deepEqual(formatLogHolders(peers), bytes);
});
