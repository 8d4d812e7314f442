/**
 * Lookup sessions (`/trustix/lookup/1.1.0`, docs/PROTOCOL.md "Lookups"), over real libp2p nodes on
 * 127.0.0.1 and a real log: a light client's lookups to a peer that serves 1.1.0 share one stream, each a
 * round trip with no negotiation; a peer that serves only 1.0.0 gets a stream per lookup; the server
 * answers a session's requests in order, a malformed one with status 2 and goes on, one over the cap
 * with status 2 and then ends; answers past the bytes in flight are busy.
 */
import '../node/runtime/promise-with-resolvers.ts';
import type { StreamHandler, StreamHandlerOptions } from '@libp2p/interface';
import { byteStream } from '@libp2p/utils';
import test, { type ExecutionContext } from 'ava';
import { framed, readFramed } from '../node/network/framed-message.ts';
import { LookupClient } from '../node/network/lookup-client.ts';
import type { LookupResult } from '../node/network/lookup-result.ts';
import { LookupService, type LookupServiceInit } from '../node/network/lookup-service.ts';
import { PeerBans } from '../node/network/peer-bans.ts';
import type { ProtocolRegistrar } from '../node/network/protocol-registrar.ts';
import {
  LOOKUP_PROTOCOL,
  LOOKUP_PROTOCOL_SESSION,
  LOOKUP_STATUS,
  MAX_LOOKUP_RESPONSE_BYTES,
} from '../protocol/constants.ts';
import { encodeLookupRequest } from '../protocol/lookup.ts';
import { parseStorePath } from '../protocol/store-path.ts';
import { type LogFixture, openLogFixture } from './helpers/log-fixture.ts';
import { startTestNode } from './helpers/p2p.ts';
import { syntheticEntries } from './helpers/synthetic-entries.ts';

let fixture: LogFixture;
let entries: string[];

test.before(async () => {
  fixture = await openLogFixture();
  entries = [...syntheticEntries(300, 21)];
  await fixture.append(entries);
});

test.after.always(async () => {
  await fixture?.destroy();
});

const head = () => ({ size: fixture.store.size, root: fixture.store.root });
const hashPartOf = (i: number) => parseStorePath(entries[i]!.split(';')[1]!).hashPart;
const texts = (r: LookupResult) => (r.kind === 'entries' ? r.entries.map((e) => e.entry) : r.kind);

/**
 * A node serving the fixture log, counting the lookup streams it is opened per version; with `only`,
 * it serves that version alone (an older peer).
 */
async function server(t: ExecutionContext, init: LookupServiceInit = {}, only?: string) {
  const node = await startTestNode(t);
  const streams: Record<string, number> = {};
  const registrar: ProtocolRegistrar = {
    handle: (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions) =>
      only !== undefined && protocol !== only
        ? Promise.resolve()
        : node.handle(
            protocol,
            (stream, connection) => {
              streams[protocol] = (streams[protocol] ?? 0) + 1;
              return handler(stream, connection);
            },
            options,
          ),
    unhandle: (protocol: string) => node.unhandle(protocol),
  };
  const service = new LookupService(
    { registrar, held: (id) => (id === fixture.store.logId ? fixture.store : undefined) },
    init,
  );
  await service.start();
  t.teardown(() => service.stop());
  return { node, service, streams };
}

async function client(t: ExecutionContext, provider: Awaited<ReturnType<typeof server>>) {
  const node = await startTestNode(t);
  await node.peerStore.merge(provider.node.peerId, { multiaddrs: provider.node.getMultiaddrs() });
  const lookups = new LookupClient(
    { dialer: node, providers: { findProviders: async () => [] }, peerId: node.peerId, bans: new PeerBans() },
    { storeDir: '/nix/store' },
  );
  lookups.hint(fixture.store.logId, provider.node.peerId.toString());
  return lookups;
}

test('lookups to a peer serving 1.1.0 share one session stream; a peer serving only 1.0.0 gets a stream each', async (t) => {
  const current = await server(t);
  const lookups = await client(t, current);
  for (const i of [1, 2, 3, 4, 5])
    t.deepEqual(texts(await lookups.lookup(fixture.store.logId, hashPartOf(i), head())), [entries[i]]);
  // Twenty at once: they queue on the session (at most `maxPerPeer`, 8, unanswered).
  const many = await Promise.all(
    Array.from({ length: 20 }, (_, k) => lookups.lookup(fixture.store.logId, hashPartOf(10 + k), head())),
  );
  t.deepEqual(
    many.map(texts),
    entries.slice(10, 30).map((e) => [e]),
  );
  t.deepEqual(current.streams, { [LOOKUP_PROTOCOL_SESSION]: 1 });
  t.is(current.service.counts.ok, 25);

  const older = await server(t, {}, LOOKUP_PROTOCOL);
  const oldLookups = await client(t, older);
  for (const i of [1, 2, 3])
    t.deepEqual(texts(await oldLookups.lookup(fixture.store.logId, hashPartOf(i), head())), [entries[i]]);
  t.deepEqual(older.streams, { [LOOKUP_PROTOCOL]: 3 });
});

test('a session is answered in order: a malformed request gets 2 and the session goes on; one over the cap gets 2, then the end', async (t) => {
  const { node, streams } = await server(t);
  const asker = await startTestNode(t);
  const stream = await asker.dialProtocol(node.getMultiaddrs()[0]!, LOOKUP_PROTOCOL_SESSION);
  const bytes = byteStream(stream);
  const request = (i: number) =>
    encodeLookupRequest({ logId: fixture.store.logId, hashPart: hashPartOf(i), size: fixture.store.size });
  for (const message of [request(7), Uint8Array.of(1, 2, 3), request(8), new Uint8Array(2000)])
    await bytes.write(framed(message));
  const read = () => readFramed(bytes, MAX_LOOKUP_RESPONSE_BYTES, { signal: AbortSignal.timeout(10_000) });
  const answers = [await read(), await read(), await read(), await read()];
  t.deepEqual(
    answers.map((a) => a?.[0]),
    [LOOKUP_STATUS.ok, LOOKUP_STATUS.badRequest, LOOKUP_STATUS.ok, LOOKUP_STATUS.badRequest],
  );
  t.true(Buffer.from(answers[0]!).includes(Buffer.from(entries[7]!)));
  t.true(Buffer.from(answers[2]!).includes(Buffer.from(entries[8]!)));
  t.is(await read(), undefined, 'the server ended the session after the request over the cap');
  t.deepEqual(streams, { [LOOKUP_PROTOCOL_SESSION]: 1 });
});

test('answers past the bytes in flight are busy, on a session as on a stream of their own', async (t) => {
  const { node, service } = await server(t, { maxBytesInFlight: 100 });
  const asker = await startTestNode(t);
  const request = encodeLookupRequest({
    logId: fixture.store.logId,
    hashPart: hashPartOf(9),
    size: fixture.store.size,
  });
  const session = byteStream(await asker.dialProtocol(node.getMultiaddrs()[0]!, LOOKUP_PROTOCOL_SESSION));
  await session.write(framed(request));
  const answer = await readFramed(session, MAX_LOOKUP_RESPONSE_BYTES, {
    signal: AbortSignal.timeout(10_000),
  });
  t.deepEqual([...answer!], [LOOKUP_STATUS.busy]);
  const single = byteStream(await asker.dialProtocol(node.getMultiaddrs()[0]!, LOOKUP_PROTOCOL));
  await single.write(framed(request));
  const alone = await readFramed(single, MAX_LOOKUP_RESPONSE_BYTES, { signal: AbortSignal.timeout(10_000) });
  t.deepEqual([...alone!], [LOOKUP_STATUS.busy]);
  t.is(service.counts.busy, 2);
  t.is(service.counts.ok, 0);
});
