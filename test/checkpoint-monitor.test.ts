import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { CheckpointMonitor, type CheckpointMonitorInit } from '../node/monitor/checkpoint-monitor.ts';
import type { CheckpointEvent, ForkEvent } from '../node/monitor/checkpoint-verdict.ts';
import type { VerifiedTree } from '../node/monitor/tree-consistency.ts';
import { type Database, openDatabase } from '../node/store/database.ts';
import { monitorStateRange } from '../node/store/layout.ts';
import { openCheckpoint, signCheckpoint } from '../protocol/checkpoint.ts';
import { MAX_CHECKPOINT_COSIGNATURES } from '../protocol/constants.ts';
import { cosignLine, witnessKey, witnessSigner } from '../protocol/cosignature.ts';
import { VerificationError } from '../protocol/errors.ts';
import { buildEvidence, verifyEvidence } from '../protocol/evidence.ts';
import { formatCheckpointMessage } from '../protocol/gossip-message.ts';
import { type LogKey, logKeyOf, logSigner, nixSecretKeyFromSeed } from '../protocol/keys.ts';
import { leafHash } from '../protocol/merkle.ts';
import { parseVkey } from '../protocol/vkey.ts';
import { type LogFixture, openLogFixture, tempDir } from './helpers/log-fixture.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

// One honest log A (checkpoints at 5, 12 and 300 entries) and a fork B made with A's key: B agrees with
// A on the first 5 entries and then diverges (checkpoints at 12 and 20).
const honest = [...syntheticEntries(300, 1)];
const forged = [...honest.slice(0, 5), ...syntheticEntries(15, 2)];
let a: LogFixture;
let b: LogFixture;
const notes: { a: Record<number, Uint8Array>; b: Record<number, Uint8Array> } = { a: {}, b: {} };

async function appendTo(
  fixture: LogFixture,
  entries: string[],
  sizes: number[],
  out: Record<number, Uint8Array>,
) {
  let at = fixture.store.size;
  for (const size of sizes) {
    await fixture.append(entries.slice(at, size));
    at = size;
    out[size] = fixture.store.checkpoint()!.note;
  }
}

test.before(async () => {
  a = await openLogFixture();
  b = await openLogFixture({ secret: a.secret });
  notes.a[0] = a.store.checkpoint()!.note;
  await appendTo(a, honest, [5, 12, 300], notes.a);
  await appendTo(b, forged, [5, 12, 20], notes.b);
});

test.after.always(async () => {
  await a?.destroy();
  await b?.destroy();
});

const msg = (note: Uint8Array, key: LogKey = a.key) => formatCheckpointMessage(key.vkey, note);

/** Swaps one base64 letter of the last signature line for another letter: still base64, a wrong signature. */
function alterSignature(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  const at = Buffer.from(out).lastIndexOf('— ') + 30;
  out[at] = out[at] === 0x41 ? 0x42 : 0x41; // 'A' or 'B'
  return out;
}

interface Harness {
  monitor: CheckpointMonitor;
  db: Database;
  dir: string;
  checkpoints: CheckpointEvent[];
  forks: ForkEvent[];
}

/**
 * A monitor on its own LevelDB; `held` are the trees the monitor's node holds, `followed` the logs its
 * user follows (kept on disk; others are kept in memory only).
 */
async function openMonitor(
  t: ExecutionContext,
  held: VerifiedTree[] = [],
  init: CheckpointMonitorInit = {},
  dir?: string,
  followed: readonly string[] = [],
): Promise<Harness> {
  const home = dir ?? (await tempDir());
  const db = await openDatabase(join(home, 'db'));
  const logs = new Map(held.map((tree) => [tree.key.logId, tree]));
  const monitor = new CheckpointMonitor({ db, logs, followed: (id) => followed.includes(id) }, init);
  await monitor.start();
  const h: Harness = { monitor, db, dir: home, checkpoints: [], forks: [] };
  monitor.addEventListener('checkpoint', (e) => h.checkpoints.push(e.detail));
  monitor.addEventListener('fork', (e) => h.forks.push(e.detail));
  if (dir === undefined)
    t.teardown(async () => {
      await db.close();
      await rm(home, { recursive: true, force: true });
    });
  return h;
}

test('malformed messages and bad signatures are rejected and change nothing', async (t) => {
  const { monitor } = await openMonitor(t);
  const garbage = new TextEncoder().encode('hello\nworld\n');
  t.like(await monitor.validate(garbage), { decision: 'reject', outcome: 'malformed' });
  const tampered = alterSignature(msg(notes.a[5]!));
  const verdict = await monitor.validate(tampered, 'peer-1');
  t.like(verdict, { decision: 'reject', outcome: 'malformed' });
  t.true(verdict.error instanceof VerificationError);
  t.is(monitor.size, 0);
});

test('first, duplicate, newer and older checkpoints: accept, ignore, accept, ignore', async (t) => {
  const h = await openMonitor(t);
  const { monitor } = h;
  t.like(await monitor.validate(msg(notes.a[5]!), 'peer-1'), {
    decision: 'accept',
    outcome: 'new',
    consistency: 'first',
  });
  t.like(await monitor.validate(msg(notes.a[5]!), 'peer-2'), { decision: 'ignore', outcome: 'duplicate' });
  t.like(await monitor.validate(msg(notes.a[300]!)), {
    decision: 'accept',
    outcome: 'new',
    consistency: 'pending',
  });
  // At or below the latest: a size in the history is a duplicate; one never seen is old.
  t.like(await monitor.validate(msg(notes.a[5]!)), { decision: 'ignore', outcome: 'duplicate' });
  t.like(await monitor.validate(msg(notes.a[12]!)), { decision: 'ignore', outcome: 'old' });
  t.deepEqual(
    h.checkpoints.map((c) => [c.checkpoint.size, c.consistency, c.from]),
    [
      [5, 'first', 'peer-1'],
      [300, 'pending', undefined],
    ],
  );
  t.deepEqual(await monitor.logs(), [
    { logId: a.key.logId, vkey: a.key.vkey, size: 300, forked: false, held: false },
  ]);
  t.deepEqual(h.forks, []);
});

test('same size, other root: accepted so the fork spreads, with evidence that only needs the vkey', async (t) => {
  const h = await openMonitor(t);
  const { monitor } = h;
  await monitor.validate(msg(notes.a[12]!));
  const verdict = await monitor.validate(msg(notes.b[12]!), 'peer-9');
  t.like(verdict, { decision: 'accept', outcome: 'fork', logId: a.key.logId });
  const ev = verifyEvidence(verdict.evidence!.bytes, parseVkey(a.key.vkey));
  t.is(ev.a.size, 12);
  t.is(ev.b.size, 12);
  t.deepEqual(ev.proof, []);
  t.true(monitor.isForked(a.key.logId));
  t.is(h.forks.length, 1);
  t.like(h.forks[0], { logId: a.key.logId, source: 'made', from: 'peer-9' });
  t.deepEqual(
    (await monitor.evidence()).map((e) => Buffer.from(e.bytes)),
    [Buffer.from(ev.bytes)],
  );
  t.like((await monitor.logs())[0], { forked: true });
  // The conflict keeps spreading (accept), but the log has its evidence already.
  const again = await monitor.validate(msg(notes.b[12]!));
  t.like(again, { decision: 'accept', outcome: 'fork', evidence: undefined });
  t.is(h.forks.length, 1);
  t.like(await monitor.validate(msg(notes.a[12]!)), { decision: 'ignore', outcome: 'duplicate' });
});

test('a node holding the larger tree turns a smaller checkpoint with another prefix into evidence', async (t) => {
  const h = await openMonitor(t, [a.store]);
  const { monitor } = h;
  // Consistent with what we hold: the honest checkpoints are verified against the tree.
  t.like(await monitor.validate(msg(notes.a[12]!)), { decision: 'accept', consistency: 'verified' });
  t.like(await monitor.validate(msg(notes.a[5]!)), { decision: 'ignore', outcome: 'old' });
  t.false(monitor.isForked(a.key.logId));
  // B's 20-entry checkpoint is above the latest seen (12) but within the tree we hold (300).
  const verdict = await monitor.validate(msg(notes.b[20]!));
  t.like(verdict, { decision: 'accept', outcome: 'fork' });
  const ev = verifyEvidence(verdict.evidence!.bytes, a.key.verifier);
  t.is(ev.a.size, 20);
  t.is(ev.b.size, 300);
  t.true(ev.proof.length > 0);
  t.true(monitor.isForked(a.key.logId));
  t.like(h.forks[0], { source: 'made' });
});

test('a forked log the user follows stays forked after a restart', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await openMonitor(t, [], {}, dir, [a.key.logId]);
  await first.monitor.validate(msg(notes.a[12]!));
  await first.monitor.validate(msg(notes.b[12]!));
  await first.db.close();

  const second = await openMonitor(t, [], {}, dir, [a.key.logId]);
  t.teardown(() => second.db.close());
  t.true(second.monitor.isForked(a.key.logId));
  t.is((await second.monitor.evidence()).length, 1);
  t.like((await second.monitor.logs())[0], { logId: a.key.logId, size: 12, forked: true });
  // The history survived too: the honest 12 is a duplicate, not a first checkpoint.
  t.like(await second.monitor.validate(msg(notes.a[12]!)), { decision: 'ignore', outcome: 'duplicate' });
  t.deepEqual(second.forks, []);
});

test('evidence from outside: valid marks the log forked, a duplicate is ignored, a tampered one rejected', async (t) => {
  const h = await openMonitor(t);
  const { monitor } = h;
  const evidence = buildEvidence(a.key.vkey, notes.a[12]!, notes.b[12]!, []).bytes;
  const tampered = alterSignature(evidence);
  t.like(await monitor.receiveEvidence(tampered), { decision: 'reject', outcome: 'invalid' });
  t.like(await monitor.receiveEvidence(new TextEncoder().encode('trustix-evidence/v1\n')), {
    decision: 'reject',
  });
  t.false(monitor.isForked(a.key.logId));

  t.like(await monitor.receiveEvidence(evidence, 'peer-3'), {
    decision: 'accept',
    outcome: 'forked',
    logId: a.key.logId,
  });
  t.true(monitor.isForked(a.key.logId));
  t.like(h.forks[0], { source: 'received', from: 'peer-3' });
  t.like(await monitor.receiveEvidence(evidence), { decision: 'ignore', outcome: 'known' });
  t.is((await monitor.evidence()).length, 1);
  t.like((await monitor.logs())[0], { size: 12, forked: true });
});

test('checkTree after a sync finds a pending checkpoint that the tree contradicts', async (t) => {
  const h = await openMonitor(t);
  const { monitor } = h;
  await monitor.validate(msg(notes.a[5]!));
  t.like(await monitor.validate(msg(notes.b[20]!)), { decision: 'accept', consistency: 'pending' });
  const pending = await monitor.pendingConsistency(a.key.logId);
  t.is(pending?.anchor?.size, 5);
  t.deepEqual(
    pending?.pending.map((p) => p.size),
    [20],
  );

  const result = await monitor.checkTree(a.key.logId, a.store);
  t.is(result.confirmed, 1); // size 5 agrees, size 20 does not
  t.truthy(result.evidence);
  t.like(verifyEvidence(result.evidence!.bytes, a.key.verifier), { a: { size: 20 }, b: { size: 300 } });
  t.true(monitor.isForked(a.key.logId));
});

test('checkTree confirms pending checkpoints on the tree', async (t) => {
  const { monitor } = await openMonitor(t);
  await monitor.validate(msg(notes.a[5]!));
  await monitor.validate(msg(notes.a[12]!));
  await monitor.validate(msg(notes.a[300]!));
  t.is((await monitor.pendingConsistency(a.key.logId))?.pending.length, 2);
  t.deepEqual(await monitor.checkTree(a.key.logId, a.store), { confirmed: 3, evidence: undefined });
  t.is(await monitor.pendingConsistency(a.key.logId), undefined);
  t.false(monitor.isForked(a.key.logId));
});

test('concurrent copies of one new checkpoint: exactly one accept', async (t) => {
  const h = await openMonitor(t);
  const verdicts = await Promise.all(Array.from({ length: 10 }, () => h.monitor.validate(msg(notes.a[12]!))));
  t.is(verdicts.filter((v) => v.decision === 'accept').length, 1);
  t.is(verdicts.filter((v) => v.outcome === 'duplicate').length, 9);
  t.is(h.checkpoints.length, 1);
});

test('our own storage failing is ignore, not reject: the sender is not at fault', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const h = await openMonitor(t, [], {}, dir);
  await h.db.close();
  const verdict = await h.monitor.validate(msg(notes.a[12]!));
  t.like(verdict, { decision: 'ignore', outcome: 'error' });
});

// ---- bounds: synthetic logs signed in memory, many keys ------------------------------------------------

const keys = Array.from({ length: 6 }, (_, i) =>
  nixSecretKeyFromSeed(`bounded-${i}`, new Uint8Array(32).fill(40 + i)),
);
const root = (n: number) => leafHash(new TextEncoder().encode(`root-${n}`));
const checkpointMsg = (i: number, size: number, variant = 0) => {
  const secret = keys[i]!;
  const note = signCheckpoint(
    { origin: secret.name, size, root: root(size * 100 + variant), extensions: [] },
    logSigner(secret),
  );
  return formatCheckpointMessage(logKeyOf(secret).vkey, note);
};
const idOf = (i: number) => logKeyOf(keys[i]!).logId;

test('more logs than the cap: the least recently seen unpinned log is evicted', async (t) => {
  const { monitor } = await openMonitor(t, [], { maxLogs: 3 });
  for (const i of [0, 1, 2]) t.like(await monitor.validate(checkpointMsg(i, 1)), { decision: 'accept' });
  await monitor.validate(checkpointMsg(0, 1)); // a duplicate still counts as seen: log 1 is now the oldest
  t.like(await monitor.validate(checkpointMsg(3, 1)), { decision: 'accept' });
  t.is(monitor.size, 3);
  t.deepEqual((await monitor.logs()).map((l) => l.logId).sort(), [idOf(0), idOf(2), idOf(3)].sort());
  // Log 1 comes back as a first checkpoint (and evicts log 2).
  t.like(await monitor.validate(checkpointMsg(1, 1)), { decision: 'accept', consistency: 'first' });
  t.false((await monitor.logs()).some((l) => l.logId === idOf(2)));
});

test('held and forked logs are never evicted; with only those, a new log is ignored', async (t) => {
  // A held log with no checkpoint yet (a follower that has not synced): nothing to check against.
  const heldTree: VerifiedTree = {
    key: logKeyOf(keys[0]!),
    checkpoint: () => undefined,
    rootAt: () => Promise.reject(new Error('no tree')),
    readHashes: () => Promise.reject(new Error('no tree')),
  };
  const { monitor } = await openMonitor(t, [heldTree], { maxLogs: 2 });
  // Log 0 is held; log 1 becomes forked.
  t.like(await monitor.validate(checkpointMsg(0, 1)), { decision: 'accept' });
  await monitor.validate(checkpointMsg(1, 1));
  t.like(await monitor.validate(checkpointMsg(1, 1, 1)), { decision: 'accept', outcome: 'fork' });
  t.like(await monitor.validate(checkpointMsg(2, 1)), { decision: 'ignore', outcome: 'capacity' });
  t.is(monitor.size, 2);
  // Evidence for a new log may push out an unheld forked one: forks are what the table is for.
  const ev = buildEvidence(
    logKeyOf(keys[3]!).vkey,
    signCheckpoint({ origin: keys[3]!.name, size: 1, root: root(1), extensions: [] }, logSigner(keys[3]!)),
    signCheckpoint({ origin: keys[3]!.name, size: 1, root: root(2), extensions: [] }, logSigner(keys[3]!)),
    [],
  );
  t.like(await monitor.receiveEvidence(ev.bytes), { decision: 'accept' });
  t.deepEqual((await monitor.logs()).map((l) => l.logId).sort(), [idOf(0), idOf(3)].sort());
});

test('forked logs beyond maxEvidence evict the least recently seen forked log', async (t) => {
  const { monitor } = await openMonitor(t, [], { maxEvidence: 2 });
  for (const i of [0, 1, 2]) {
    await monitor.validate(checkpointMsg(i, 1));
    t.like(await monitor.validate(checkpointMsg(i, 1, 1)), { outcome: 'fork' });
  }
  t.deepEqual(
    (await monitor.logs())
      .filter((l) => l.forked)
      .map((l) => l.logId)
      .sort(),
    [idOf(1), idOf(2)].sort(),
  );
  t.is((await monitor.evidence()).length, 2);
});

test('the history keeps the largest sizes and the anchor', async (t) => {
  const { monitor } = await openMonitor(t, [], { historySize: 3 });
  for (const size of [1, 2, 3, 4, 5]) await monitor.validate(checkpointMsg(4, size));
  const pending = await monitor.pendingConsistency(idOf(4));
  t.is(pending?.anchor?.size, 1);
  t.deepEqual(
    pending?.pending.map((p) => p.size),
    [4, 5],
  );
  // Size 3 was dropped: its conflicting twin can no longer be compared, so it is only old.
  t.like(await monitor.validate(checkpointMsg(4, 3, 1)), { decision: 'ignore', outcome: 'old' });
  t.like(await monitor.validate(checkpointMsg(4, 4, 1)), { decision: 'accept', outcome: 'fork' });
});

test('gossip waits in a bounded queue: beyond maxPending a message is ignored as busy', async (t) => {
  const { monitor } = await openMonitor(t, [], { maxPending: 4 });
  const fresh = Array.from({ length: 40 }, (_, i) => {
    const secret = nixSecretKeyFromSeed(`queue-${i}`, new Uint8Array(32).fill(i + 1));
    const note = signCheckpoint(
      { origin: secret.name, size: 1, root: leafHash(new Uint8Array([i])), extensions: [] },
      logSigner(secret),
    );
    return formatCheckpointMessage(logKeyOf(secret).vkey, note);
  });
  const verdicts = await Promise.all(fresh.map((m, i) => monitor.validate(m, `peer-${i}`)));
  const busy = verdicts.filter((v) => v.outcome === 'busy').length;
  t.true(busy >= 40 - 4 - 1, `${busy} busy`);
  t.true(verdicts.every((v) => v.decision !== 'reject'));
  // The node's own messages are never turned away.
  t.like(await monitor.validate(msg(notes.a[5]!)), { decision: 'accept' });
});

test('a followed log is kept on disk and never budgeted; a log followed later moves to disk', async (t) => {
  const one = { perSecond: 0, burst: 1 };
  const followed = [a.key.logId];
  const { monitor, db } = await openMonitor(t, [], { peerBudget: one, budget: one }, undefined, followed);
  for (const size of [5, 12, 300])
    t.like(await monitor.validate(msg(notes.a[size]!), 'peer'), { decision: 'accept' });
  const onDisk = async () => {
    let n = 0;
    for await (const _ of db.keys(monitorStateRange())) n++;
    return n;
  };
  t.is(await onDisk(), 1);
  // An unfollowed log spends the single token, then is over budget with the sender to blame.
  const other = nixSecretKeyFromSeed('other', new Uint8Array(32).fill(9));
  const note = (size: number) =>
    signCheckpoint(
      { origin: 'other', size, root: leafHash(new Uint8Array([size])), extensions: [] },
      logSigner(other),
    );
  const otherMsg = (size: number) => formatCheckpointMessage(logKeyOf(other).vkey, note(size));
  t.like(await monitor.validate(otherMsg(1), 'peer'), { decision: 'accept' });
  t.like(await monitor.validate(otherMsg(2), 'peer'), {
    decision: 'ignore',
    outcome: 'over-budget',
    blame: true,
  });
  t.like(await monitor.validate(otherMsg(2), 'another'), {
    decision: 'ignore',
    outcome: 'over-budget',
    blame: false,
  });
  t.is((await monitor.logs()).length, 2);
  t.is(await monitor.latest(logKeyOf(other).logId).then((n) => n?.length), note(1).length);
  t.is(await onDisk(), 1, 'the unfollowed log is in memory only');
  followed.push(logKeyOf(other).logId);
  await monitor.keep(logKeyOf(other).logId);
  t.is(await onDisk(), 2, 'followed now: on disk');
  t.is((await monitor.logs()).length, 2);
  t.deepEqual(Buffer.from((await monitor.latest(logKeyOf(other).logId))!), Buffer.from(note(1)));
});

test('a fresh log from a sender over its budget is refused before its signature is checked', async (t) => {
  // A flood of fresh-key checkpoints (docs/SECURITY.md, "Keyless peers") cost one Ed25519 verification
  // per message even once the sender's budget was spent; now the budget is asked first.
  const { monitor } = await openMonitor(t, [], { peerBudget: { perSecond: 0, burst: 1 } });
  const fresh = (seed: number, size: number) => {
    const key = nixSecretKeyFromSeed(`fresh${seed}`, new Uint8Array(32).fill(seed));
    const note = signCheckpoint(
      { origin: `fresh${seed}`, size, root: leafHash(new Uint8Array([size])), extensions: [] },
      logSigner(key),
    );
    return formatCheckpointMessage(logKeyOf(key).vkey, note);
  };
  // The same message with its signature spoiled: only a signature check can tell.
  const spoiled = (bytes: Uint8Array) => {
    const copy = Uint8Array.from(bytes);
    copy[copy.length - 3]! ^= 1;
    return copy;
  };
  t.like(await monitor.validate(spoiled(fresh(11, 1)), 'sender'), { decision: 'reject' });
  t.like(await monitor.validate(fresh(12, 1), 'sender'), { decision: 'accept' });
  t.like(await monitor.validate(spoiled(fresh(13, 1)), 'sender'), {
    decision: 'ignore',
    outcome: 'over-budget',
    blame: true,
  });
  // Another sender's budget is whole: its copy is checked, and refused for its signature.
  t.like(await monitor.validate(spoiled(fresh(13, 1)), 'other'), { decision: 'reject' });
});

test('cosignatures: one per witness, at most MAX_CHECKPOINT_COSIGNATURES kept on a checkpoint of a followed log, none on a log nobody here follows; the quorum gate counts only the listed witnesses', async (t) => {
  const signers = Array.from({ length: MAX_CHECKPOINT_COSIGNATURES + 2 }, (_, i) =>
    witnessSigner(`w${i}`, new Uint8Array(32).fill(i + 1)),
  );
  const keys = signers.map((s) => witnessKey(s.name, s.publicKey));
  const quorums = new Map([[a.key.logId, { witnesses: keys.slice(0, 3), quorum: 3 }]]);
  const h = await openMonitor(t, [], { witnesses: keys, quorums }, undefined, [a.key.logId]);
  const newest: number[] = [];
  h.monitor.addEventListener('newest', (e) => newest.push(e.detail.checkpoint.size));
  const note = notes.a[5]!;
  const opened = openCheckpoint(note, a.key.verifier);
  const text = note.subarray(0, Buffer.byteLength(opened.text));
  const now = Math.floor(Date.now() / 1000);
  const cosigned = (...by: typeof signers) =>
    msg(Buffer.concat([note, ...by.map((s) => Buffer.from(cosignLine(text, s, now)))]));

  // Two witnesses of the quorum's three: kept, no move yet.
  t.like(await h.monitor.validate(cosigned(signers[0]!, signers[1]!), 'peer-1'), {
    decision: 'accept',
    outcome: 'new',
    cosignatures: 2,
  });
  t.deepEqual(newest, []);
  t.is(await h.monitor.newest(a.key.logId), undefined);
  // Every other known witness, one message each: kept up to the cap, then duplicates.
  let kept = 2;
  for (const s of signers.slice(3)) {
    const verdict = await h.monitor.validate(cosigned(s), 'peer-2');
    if (kept < MAX_CHECKPOINT_COSIGNATURES) {
      t.like(verdict, { decision: 'accept', outcome: 'cosigned', cosignatures: 1 });
      kept++;
    } else t.like(verdict, { decision: 'ignore', outcome: 'duplicate' });
  }
  const full = (await h.monitor.latest(a.key.logId))!;
  t.is(openCheckpoint(full, a.key.verifier).otherSignatures.length, MAX_CHECKPOINT_COSIGNATURES);
  t.deepEqual(newest, [], 'witnesses beyond the list do not count');
  t.like(await h.monitor.quorumStatus(a.key.logId), {
    quorum: 3,
    witnesses: 3,
    waitingSize: 5,
    waitingCosigners: 2,
  });

  // A log nobody here follows: cosignatures pass on (within the budget), none is kept.
  const other = await openLogFixture();
  t.teardown(() => other.destroy());
  const otherNote = other.store.checkpoint()!.note;
  const otherText = otherNote.subarray(
    0,
    Buffer.byteLength(openCheckpoint(otherNote, other.key.verifier).text),
  );
  t.like(await h.monitor.validate(formatCheckpointMessage(other.key.vkey, otherNote), 'peer-3'), {
    outcome: 'new',
  });
  const line = Buffer.from(cosignLine(otherText, signers[0]!, now));
  t.like(
    await h.monitor.validate(
      formatCheckpointMessage(other.key.vkey, Buffer.concat([otherNote, line])),
      'peer-3',
    ),
    {
      decision: 'accept',
      outcome: 'relayed',
    },
  );
  t.is(
    openCheckpoint((await h.monitor.latest(other.key.logId))!, other.key.verifier).otherSignatures.length,
    0,
  );
});

test('a new checkpoint is kept without the lines of witnesses this node does not know', async (t) => {
  const h = await openMonitor(t, [], {}, undefined, [a.key.logId]);
  const note = notes.a[12]!;
  const text = note.subarray(0, Buffer.byteLength(openCheckpoint(note, a.key.verifier).text));
  const line = cosignLine(text, witnessSigner('stranger', new Uint8Array(32).fill(9)), 1_700_000_000);
  t.like(await h.monitor.validate(msg(Buffer.concat([note, Buffer.from(line)])), 'peer-1'), {
    decision: 'accept',
    outcome: 'new',
    cosignatures: 0,
  });
  t.deepEqual(Buffer.from((await h.monitor.latest(a.key.logId))!), Buffer.from(note));
});

test("a light log's verified checkpoint passes the quorum gate: checked is not enough, it must carry the quorum", async (t) => {
  const signers = [0, 1].map((i) => witnessSigner(`w${i}`, new Uint8Array(32).fill(i + 40)));
  const keys = signers.map((s) => witnessKey(s.name, s.publicKey));
  const quorums = new Map([[a.key.logId, { witnesses: keys, quorum: 2 }]]);
  const h = await openMonitor(t, [], { witnesses: keys, quorums }, undefined, [a.key.logId]);
  const note = notes.a[12]!;
  const text = note.subarray(0, Buffer.byteLength(openCheckpoint(note, a.key.verifier).text));
  const now = Math.floor(Date.now() / 1000);
  const cosigned = (...by: typeof signers) =>
    msg(Buffer.concat([note, ...by.map((s) => Buffer.from(cosignLine(text, s, now)))]));

  await h.monitor.validate(msg(notes.a[5]!));
  await h.monitor.validate(cosigned(signers[0]!));
  t.deepEqual(await h.monitor.checkTree(a.key.logId, a.store), { confirmed: 2, evidence: undefined });
  t.is(await h.monitor.verifiedCheckpoint(a.key.logId), undefined, 'checked, but one cosignature of two');
  await h.monitor.validate(cosigned(signers[1]!));
  t.is((await h.monitor.verifiedCheckpoint(a.key.logId))?.size, 12);
  // Without a quorum, checked is enough.
  const plain = await openMonitor(t, [], {}, undefined, [a.key.logId]);
  await plain.monitor.validate(msg(note));
  await plain.monitor.checkTree(a.key.logId, a.store);
  t.is((await plain.monitor.verifiedCheckpoint(a.key.logId))?.size, 12);
});
