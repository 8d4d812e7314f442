/**
 * The lookup wire format (protocol/lookup.ts): requests and answers round-trip byte for byte, parsing is
 * strict, and an answer's entries verify against the asker's root only when each is a real entry of the
 * asked path at its index.
 */
import test from 'ava';
import { LOOKUP_STATUS, MAX_LOOKUP_ENTRIES, MAX_LOOKUP_RESPONSE_BYTES } from '../protocol/constants.ts';
import { MalformedError, VerificationError } from '../protocol/errors.ts';
import { proveInclusion } from '../protocol/inclusion-proof.ts';
import {
  encodeLookupRequest,
  encodeLookupResponse,
  LOOKUP_REQUEST_BYTES,
  type LookupEntry,
  type LookupRequest,
  parseLookupRequest,
  parseLookupResponse,
  verifyLookupEntries,
} from '../protocol/lookup.ts';
import { MemoryTree } from '../protocol/memory-tree.ts';
import { leafHash, treeHash } from '../protocol/merkle.ts';
import {
  fingerprint,
  prng,
  randomNarHash,
  randomStorePath,
  syntheticEntries,
} from './helpers/synthetic-entries.ts';

const enc = new TextEncoder();
const rand = prng(42);
const PATH = randomStorePath(rand, 'hello-2.12.1');
const HASH_PART = PATH.slice('/nix/store/'.length, '/nix/store/'.length + 32);
const OTHER = randomStorePath(rand, 'hello-2.12.1');
const AT = [3, 100, 257]; // where the log holds entries for PATH (a rebuild, and a liar's other value)

const entries = [...syntheticEntries(600, 7)];
for (const i of AT) entries[i] = fingerprint(PATH, randomNarHash(rand), 1000 + i, []);
entries[400] = fingerprint(OTHER, randomNarHash(rand), 5, []);
const tree = MemoryTree.fromLeafHashes(entries.map((e) => leafHash(enc.encode(e))));
const SIZE = entries.length;
const LOG_ID = 'ab'.repeat(32);
const request: LookupRequest = { logId: LOG_ID, hashPart: HASH_PART, size: SIZE };

async function answerFor(at: readonly number[], size = SIZE): Promise<LookupEntry[]> {
  return Promise.all(
    at.map(async (index) => ({
      index,
      entry: enc.encode(entries[index]!),
      proof: await proveInclusion(size, index, tree),
    })),
  );
}

test('a request is 73 bytes that parse back to the same request; anything else is malformed', (t) => {
  const bytes = encodeLookupRequest(request);
  t.is(bytes.length, LOOKUP_REQUEST_BYTES);
  t.is(bytes.length, 73);
  t.is(bytes[0], 1);
  t.is(Buffer.from(bytes.subarray(1, 33)).toString('hex'), LOG_ID);
  t.is(Buffer.from(bytes.subarray(33, 65)).toString('latin1'), HASH_PART);
  t.is(Buffer.from(bytes).readBigUInt64BE(65), BigInt(SIZE));
  t.deepEqual(parseLookupRequest(bytes), request);

  const bad = (mutate: (b: Buffer) => Buffer) => mutate(Buffer.from(bytes));
  for (const b of [
    bad((b) => b.subarray(0, 72)),
    bad((b) => Buffer.concat([b, Buffer.of(0)])),
    bad((b) => {
      b[0] = 2; // an unknown version
      return b;
    }),
    bad((b) => {
      b[40] = 'e'.charCodeAt(0); // not a nix32 digit
      return b;
    }),
    bad((b) => {
      b.writeBigUInt64BE(0n, 65);
      return b;
    }),
    bad((b) => {
      b.writeBigUInt64BE(1n << 53n, 65);
      return b;
    }),
  ])
    t.throws(() => parseLookupRequest(b), { instanceOf: MalformedError });
  t.throws(() => encodeLookupRequest({ ...request, logId: 'AB'.repeat(32) }), { instanceOf: MalformedError });
  t.throws(() => encodeLookupRequest({ ...request, size: 0 }), { instanceOf: MalformedError });
});

test('an answer round-trips and its entries verify against the root: every entry of the path, in order', async (t) => {
  const root = await treeHash(SIZE, tree);
  const answer = encodeLookupResponse({ status: LOOKUP_STATUS.ok, entries: await answerFor(AT) });
  const parsed = parseLookupResponse(answer, request);
  t.is(parsed.status, LOOKUP_STATUS.ok);
  if (parsed.status !== LOOKUP_STATUS.ok) return;
  t.deepEqual(
    verifyLookupEntries(request, root, parsed.entries),
    AT.map((index) => ({ index, entry: entries[index]! })),
  );
  // "none": no entry for the path.
  const none = parseLookupResponse(encodeLookupResponse({ status: LOOKUP_STATUS.ok, entries: [] }), request);
  t.deepEqual(none, { status: LOOKUP_STATUS.ok, entries: [] });
  t.deepEqual(encodeLookupResponse({ status: LOOKUP_STATUS.ok, entries: [] }), Uint8Array.of(0, 0, 0));
  for (const status of [
    LOOKUP_STATUS.notHeld,
    LOOKUP_STATUS.badRequest,
    LOOKUP_STATUS.busy,
    LOOKUP_STATUS.tooMany,
  ])
    t.deepEqual(parseLookupResponse(encodeLookupResponse({ status }), request), { status });
});

test('a provider cannot invent: another path, a wrong index, a forged entry or proof, another tree all fail', async (t) => {
  const root = await treeHash(SIZE, tree);
  const [good] = await answerFor([100]);
  const check = (e: LookupEntry) => () => verifyLookupEntries(request, root, [e]);
  // The entry of another path, with its own valid proof.
  const [other] = await answerFor([400]);
  t.throws(check(other!), { instanceOf: VerificationError, message: /another path/ });
  // A true entry at a wrong index.
  t.throws(check({ ...good!, index: 101 }), { instanceOf: VerificationError });
  // A forged entry for the path, with the proof of a real one.
  const forged = enc.encode(fingerprint(PATH, randomNarHash(rand), 1100, []));
  t.throws(check({ ...good!, entry: forged }), { instanceOf: VerificationError });
  // A flipped proof hash; a proof one hash short.
  const flipped = good!.proof.map((h, i) => (i === 0 ? h.map((b, j) => (j === 0 ? b ^ 1 : b)) : h));
  t.throws(check({ ...good!, proof: flipped }), { instanceOf: VerificationError });
  t.throws(check({ ...good!, proof: good!.proof.slice(1) }), { instanceOf: VerificationError });
  // Not an entry at all.
  t.throws(check({ ...good!, entry: enc.encode(`1;${PATH};nonsense;1;`) }), {
    instanceOf: VerificationError,
  });
  // A proof in a smaller tree does not verify against the asker's root.
  const [small] = await answerFor([100], 300);
  t.throws(check(small!), { instanceOf: VerificationError });
});

test('answers are parsed strictly: order, ranges, truncation, trailing bytes, unknown status, size caps', async (t) => {
  const ok = Buffer.from(encodeLookupResponse({ status: LOOKUP_STATUS.ok, entries: await answerFor(AT) }));
  const reversed = encodeLookupResponse({
    status: LOOKUP_STATUS.ok,
    entries: (await answerFor(AT)).reverse(),
  });
  const twice = encodeLookupResponse({ status: LOOKUP_STATUS.ok, entries: await answerFor([3, 3]) });
  const malformed: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['unknown status', Uint8Array.of(9)],
    ['a status with a body', Uint8Array.of(LOOKUP_STATUS.busy, 0)],
    ['truncated', ok.subarray(0, ok.length - 1)],
    ['trailing', Buffer.concat([ok, Buffer.of(0)])],
    ['decreasing', reversed],
    ['repeated', twice],
    ['count over the cap', Uint8Array.of(0, (MAX_LOOKUP_ENTRIES + 1) >> 8, (MAX_LOOKUP_ENTRIES + 1) & 0xff)],
    ['oversized', new Uint8Array(MAX_LOOKUP_RESPONSE_BYTES + 1)],
  ];
  for (const [what, bytes] of malformed)
    t.throws(() => parseLookupResponse(bytes, request), { instanceOf: MalformedError }, what);
  // An index at or beyond the asker's size.
  t.throws(() => parseLookupResponse(ok, { ...request, size: 257 }), { instanceOf: MalformedError });
  t.throws(
    () =>
      encodeLookupResponse({
        status: LOOKUP_STATUS.ok,
        entries: Array(MAX_LOOKUP_ENTRIES + 1).fill(ok as unknown as LookupEntry),
      }),
    {
      instanceOf: MalformedError,
    },
  );
});
