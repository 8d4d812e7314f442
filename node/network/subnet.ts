/**
 * The IP subnet a connection comes from, as the key of a budget (docs/SECURITY.md): peer IDs cost
 * nothing to make, a subnet is what a keyless attacker pays for.
 */

/**
 * The subnet a connection comes from, as a budget key: IPv4 /24, IPv6 /48; undefined for loopback
 * (unless `limitLoopback`) and for addresses without an IP (relayed, unix sockets).
 */
export function subnetOf(multiaddr: string, limitLoopback = false): string | undefined {
  if (multiaddr.includes('/p2p-circuit')) return undefined;
  const v4 = /^\/ip4\/(\d+)\.(\d+)\.(\d+)\.\d+(\/|$)/.exec(multiaddr);
  if (v4 !== null) {
    if (v4[1] === '127' && !limitLoopback) return undefined;
    return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  }
  const v6 = /^\/ip6\/([0-9a-fA-F:]+)(\/|$)/.exec(multiaddr);
  if (v6 === null) return undefined;
  const groups = expandIpv6(v6[1]!);
  if (groups === undefined) return undefined;
  if (groups.every((g, i) => (i < 7 ? g === 0 : g === 1)) && !limitLoopback) return undefined;
  return `${groups
    .slice(0, 3)
    .map((g) => g.toString(16))
    .join(':')}::/48`;
}

function expandIpv6(text: string): number[] | undefined {
  const [head, tail, ...rest] = text.split('::');
  if (rest.length > 0) return undefined;
  const parse = (part: string | undefined) =>
    part ? part.split(':').map((g) => Number.parseInt(g, 16)) : [];
  const a = parse(head);
  const b = parse(tail);
  const groups = tail === undefined ? a : [...a, ...new Array(8 - a.length - b.length).fill(0), ...b];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : undefined;
}
