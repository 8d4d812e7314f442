// Keyless peers, issue item 10 (connections): peer IDs cost nothing, so one host could open connections
// under fresh peer IDs until the node's maxConnections is spent. The connection gater now refuses
// inbound connections beyond a budget per IP address and per subnet. Real libp2p nodes on 127.0.0.1
// (the loopback exemption lifted); before the budget every dial was let in.
import { multiaddr } from '@multiformats/multiaddr';
import test from 'ava';
import { ConnectionBudget } from '../../node/network/connection-budget.ts';
import { dialAddress, startTestNode } from '../helpers/p2p.ts';

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
  await opened(2);
  t.is(victim.getConnections().length, 2);
});
