// Keyless peers, issue item 10 (connections): peer IDs cost nothing, so one host could open connections
// under fresh peer IDs until the node's maxConnections is spent. The connection gater now refuses
// inbound connections beyond a budget per IP address and per subnet. Real libp2p nodes on 127.0.0.1
// (the loopback exemption lifted); before the budget every dial was let in, and before connections in
// their handshake were counted a burst of raw TCP connections passed the budget.
import { connect } from 'node:net';
import { multiaddr } from '@multiformats/multiaddr';
import test from 'ava';
import { ConnectionBudget } from '../../node/network/connection-budget.ts';
import { dialAddress, startTestNode, waitFor } from '../helpers/p2p.ts';

test('inbound connections beyond the budget of one IP address are refused by the gater; closing one frees a slot', async (t) => {
  const budget = new ConnectionBudget({ maxPerIp: 2, limitLoopback: true });
  const victim = await startTestNode(t, { connectionGater: budget.gater() });
  budget.start(victim);
  t.teardown(() => budget.stop());
  const target = multiaddr(dialAddress(victim));
  const opened = (n: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (budget.counts(target.toString()).ip >= n) {
          victim.removeEventListener('connection:open', check);
          resolve();
        }
      };
      victim.addEventListener('connection:open', check);
      check();
    });

  const [a, b, c] = await Promise.all([startTestNode(t), startTestNode(t), startTestNode(t)]);
  await a.dial(target);
  await b.dial(target);
  await opened(2);
  await t.throwsAsync(c.dial(target), undefined, 'a third connection from 127.0.0.1 is refused');
  t.is(budget.counts(target.toString()).ip, 2);

  const closed = new Promise<void>((resolve) =>
    victim.addEventListener('connection:close', () => resolve(), { once: true }),
  );
  await a.hangUp(victim.peerId);
  await closed;
  await c.dial(target);
  await waitFor('the victim sees c', () => victim.getConnections(c.peerId).length > 0);
});

test('a burst of raw TCP connections and libp2p dials from one IP address gets at most the budget in, handshakes included', async (t) => {
  const budget = new ConnectionBudget({ maxPerIp: 3, limitLoopback: true });
  const gate = budget.gater();
  // The real gater, watched: every decision it makes on an inbound connection.
  const decisions: boolean[] = [];
  const victim = await startTestNode(t, {
    connectionGater: {
      denyInboundConnection: async (maConn) => {
        const denied = (await gate.denyInboundConnection?.(maConn)) === true;
        decisions.push(denied);
        return denied;
      },
    },
  });
  budget.start(victim);
  t.teardown(() => budget.stop());
  const target = multiaddr(dialAddress(victim));
  const [, , host, , port] = target.toString().split('/');
  const ipCount = () => budget.counts(target.toString()).ip;

  // Six raw TCP connections that never start a handshake (they sit in it until the upgrade timeout)...
  const raw = Array.from({ length: 6 }, () =>
    // Refused ones are reset by the victim: expected.
    connect({ host: host!, port: Number(port) }).on('error', () => {}),
  );
  t.teardown(() => {
    for (const s of raw) s.destroy();
  });
  // ...and, at once, three real libp2p dialers.
  const dialers = await Promise.all([startTestNode(t), startTestNode(t), startTestNode(t)]);
  const dials = await Promise.allSettled(dialers.map((d) => d.dial(target)));
  await waitFor(
    'every connection judged by the gater',
    () => decisions.length >= raw.length + dialers.length,
  );
  const admitted = decisions.filter((denied) => !denied).length;
  t.true(admitted <= 3, `${admitted} connections from 127.0.0.1 let in, budget 3`);
  t.true(ipCount() <= 3);
  t.true(
    dials.some((d) => d.status === 'rejected'),
    'the raw connections in their handshake hold slots',
  );

  // Closing the raw connections frees their slots: a dialer gets in.
  for (const s of raw) s.destroy();
  await waitFor('raw connections forgotten', () => ipCount() === victim.getConnections().length);
  const late = dialers.find((_, i) => dials[i]!.status === 'rejected')!;
  const connection = await late.dial(target);
  t.is(connection.remotePeer.toString(), victim.peerId.toString());
});
