import type { ErrorConstructor } from 'ava';
import test from 'ava';
import { formatCheckpoint, signCheckpoint } from '../protocol/checkpoint.ts';
import { MalformedError, TooLargeError, type TrustixError, VerificationError } from '../protocol/errors.ts';
import {
  formatCheckpointMessage,
  MAX_CHECKPOINT_MESSAGE_BYTES,
  parseCheckpointMessage,
} from '../protocol/gossip-message.ts';
import { formatNixPublicKey, logIdOf, logKeyOf, logSigner, nixSecretKeyFromSeed } from '../protocol/keys.ts';
import { EMPTY_ROOT, leafHash } from '../protocol/merkle.ts';
import { signNote } from '../protocol/note.ts';
import { noteSigner } from '../protocol/vkey.ts';

type ErrorClass = ErrorConstructor<TrustixError>;

const secret = nixSecretKeyFromSeed('gossip-log-1', new Uint8Array(32).fill(5));
const log = logKeyOf(secret);
const signer = logSigner(secret);
// Same name, another key: its notes carry a signature line that looks right but is not by the log key.
const impostor = noteSigner('gossip-log-1', new Uint8Array(32).fill(6));
const otherLog = logKeyOf(nixSecretKeyFromSeed('gossip-log-2', new Uint8Array(32).fill(7)));
const encoder = new TextEncoder();
const root = leafHash(encoder.encode('entry'));

const note = signCheckpoint({ origin: log.name, size: 1, root, extensions: [] }, signer);
const cat = (...parts: (string | Uint8Array)[]): Uint8Array =>
  Uint8Array.from(Buffer.concat(parts.map((p) => (typeof p === 'string' ? encoder.encode(p) : p))));
const message = cat(`${log.vkey}\n`, note);

test('a message round-trips: the vkey names the log, the note keeps its exact bytes', (t) => {
  const bytes = formatCheckpointMessage(log.vkey, note);
  t.deepEqual(Buffer.from(bytes), Buffer.from(message));
  const parsed = parseCheckpointMessage(bytes);
  t.is(parsed.logKey.vkey, log.vkey);
  t.is(parsed.logKey.logId, logIdOf(log.vkey));
  t.is(parsed.logKey.logId, log.logId);
  t.is(parsed.checkpoint.size, 1);
  t.deepEqual(Buffer.from(parsed.checkpoint.root), Buffer.from(root));
  t.deepEqual(Buffer.from(parsed.checkpoint.note), Buffer.from(note));
  t.deepEqual(Buffer.from(parsed.bytes), Buffer.from(message));
});

test('a note with an extra (witness) signature by an unknown key is still a valid message', (t) => {
  const text = formatCheckpoint({ origin: log.name, size: 1, root, extensions: [] });
  const witness = noteSigner('witness', new Uint8Array(32).fill(9));
  const parsed = parseCheckpointMessage(cat(`${log.vkey}\n`, signNote(text, [signer, witness])));
  t.is(parsed.checkpoint.otherSignatures.length, 1);
});

test('formatCheckpointMessage refuses what a peer would reject', (t) => {
  t.throws(() => formatCheckpointMessage(otherLog.vkey, note), { instanceOf: MalformedError });
  t.throws(() => formatCheckpointMessage(`${log.vkey}\n${log.vkey}`, note), { instanceOf: MalformedError });
});

const tampered = Uint8Array.from(note);
tampered[log.name.length + 1] = 0x32; // size "1" becomes "2": the signature no longer covers the text

const malformed: [string, Uint8Array, ErrorClass][] = [
  ['an empty message', new Uint8Array(0), MalformedError],
  ['a vkey with no newline', encoder.encode(log.vkey), MalformedError],
  ['a note with no vkey line', note, MalformedError],
  ['an empty vkey line', cat('\n', note), MalformedError],
  ['two vkey lines', cat(`${log.vkey}\n${log.vkey}\n`, note), MalformedError],
  ['a CRLF after the vkey', cat(`${log.vkey}\r\n`, note), MalformedError],
  [
    'a note with CRLF line endings',
    cat(`${log.vkey}\n`, Buffer.from(note).toString().replaceAll('\n', '\r\n')),
    MalformedError,
  ],
  [
    'a vkey with a wrong key hash',
    cat(`${log.vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')}\n`, note),
    MalformedError,
  ],
  ['a Nix public key instead of a vkey', cat(`${formatNixPublicKey(log)}\n`, note), MalformedError],
  ['a vkey line of invalid UTF-8', cat(Uint8Array.of(0xff, 0xfe), '\n', note), MalformedError],
  ["another log's vkey (origin is not its name)", cat(`${otherLog.vkey}\n`, note), MalformedError],
  [
    'a note whose origin is not the key name, signed by the key',
    cat(
      `${log.vkey}\n`,
      signNote(formatCheckpoint({ origin: 'elsewhere', size: 1, root, extensions: [] }), [signer]),
    ),
    MalformedError,
  ],
  [
    'a note signed by another key with the same name',
    cat(
      `${log.vkey}\n`,
      signNote(formatCheckpoint({ origin: log.name, size: 1, root, extensions: [] }), [impostor]),
    ),
    VerificationError,
  ],
  ['a note altered after signing', cat(`${log.vkey}\n`, tampered), VerificationError],
  [
    'a size-0 checkpoint whose root is not the empty root',
    cat(`${log.vkey}\n`, signCheckpoint({ origin: log.name, size: 0, root, extensions: [] }, signer)),
    VerificationError,
  ],
  ['trailing bytes after the note', cat(message, 'x'), MalformedError],
  ['a trailing newline after the note', cat(message, '\n'), MalformedError],
  [
    'an oversized message',
    cat(message, 'x'.repeat(MAX_CHECKPOINT_MESSAGE_BYTES - message.length + 1)),
    TooLargeError,
  ],
  ['a first line longer than any vkey', cat('a'.repeat(400), '\n', note), MalformedError],
];

for (const [title, bytes, error] of malformed) {
  test(`refuses ${title} with ${error.name}`, (t) => {
    t.throws(() => parseCheckpointMessage(bytes), { instanceOf: error });
  });
}

test('the size cap is checked before anything is parsed', (t) => {
  const huge = new Uint8Array(MAX_CHECKPOINT_MESSAGE_BYTES + 1).fill(0x0a);
  const err = t.throws(() => parseCheckpointMessage(huge), { instanceOf: TooLargeError });
  t.is(err?.limit, MAX_CHECKPOINT_MESSAGE_BYTES);
});

test('a size-0 checkpoint with the empty root is valid', (t) => {
  const empty = signCheckpoint({ origin: log.name, size: 0, root: EMPTY_ROOT, extensions: [] }, signer);
  t.is(parseCheckpointMessage(formatCheckpointMessage(log.vkey, empty)).checkpoint.size, 0);
});

test('a log whose key name has the longest allowed length fits the cap', (t) => {
  const longSecret = nixSecretKeyFromSeed('n'.repeat(256), new Uint8Array(32).fill(8));
  const longLog = logKeyOf(longSecret);
  const big = signCheckpoint(
    { origin: longLog.name, size: 1, root, extensions: ['e'.repeat(15_000)] },
    logSigner(longSecret),
  );
  t.is(parseCheckpointMessage(formatCheckpointMessage(longLog.vkey, big)).logKey.vkey, longLog.vkey);
});
