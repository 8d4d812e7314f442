/**
 * The safety switch `TRUSTIX_LOCAL_ONLY=1` (docs/CLI.md, "Environment"): the node contacts only the
 * addresses it is given. No built-in public bootstrap peers, no mDNS, no UPnP, and, as a second line,
 * libp2p refuses to dial any address that is not loopback or a non-routable range (private, link-local,
 * shared, benchmarking and documentation ranges, which tests use inside network namespaces) or that
 * names a host by DNS. Tests, benchmarks, the demo and CI set it.
 */
import { BlockList, isIP } from 'node:net';
import type { ConnectionGater } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';

/** The environment variable that turns the switch on (any value but empty or `0`). */
export const LOCAL_ONLY_ENV = 'TRUSTIX_LOCAL_ONLY';

/** Whether the switch is on in `env`. */
export function isLocalOnly(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const value = env[LOCAL_ONLY_ENV];
  return value !== undefined && value !== '' && value !== '0';
}

/** Ranges that never route on the public Internet: what a local-only node may dial. */
const LOCAL_RANGES = (() => {
  const list = new BlockList();
  for (const [net, prefix] of [
    ['127.0.0.0', 8],
    ['10.0.0.0', 8],
    ['172.16.0.0', 12],
    ['192.168.0.0', 16],
    ['169.254.0.0', 16],
    ['100.64.0.0', 10],
    ['198.18.0.0', 15],
    ['192.0.2.0', 24],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
  ] as const)
    list.addSubnet(net, prefix, 'ipv4');
  list.addAddress('::1', 'ipv6');
  list.addSubnet('fc00::', 7, 'ipv6');
  list.addSubnet('fe80::', 10, 'ipv6');
  // IPv6 documentation prefixes (RFC 3849, RFC 9637): never routed. Tests' "public" IPv6 side is in 3fff::/20,
  // which libp2p does not call private (2001:db8::/32 it does).
  list.addSubnet('2001:db8::', 32, 'ipv6');
  list.addSubnet('3fff::', 20, 'ipv6');
  return list;
})();

/** Whether an IP address is loopback or in a non-routable range. */
export function isLocalAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  return LOCAL_RANGES.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether a multiaddr may be dialled by a local-only node: every IP it names is local and it names no
 * DNS host (a name could resolve anywhere). A relayed address `/ip4/…/p2p/R/p2p-circuit/p2p/P` names
 * the relay's IP, which is checked like any other.
 */
export function isLocalMultiaddr(ma: Multiaddr): boolean {
  let sawIp = false;
  for (const c of ma.getComponents()) {
    if (c.name.startsWith('dns')) return false;
    if (c.name === 'ip4' || c.name === 'ip6') {
      if (c.value === undefined || !isLocalAddress(c.value)) return false;
      sawIp = true;
    }
  }
  // A bare `/p2p/<PeerId>` is resolved through the peer store, whose addresses are checked when dialled.
  return sawIp || ma.getComponents().every((c) => c.name === 'p2p');
}

/**
 * Adds the local-only dial check to a gater: dials to non-local addresses are refused, whatever else
 * the gater allows.
 */
export function localOnlyGater(gater: ConnectionGater = {}): ConnectionGater {
  return {
    ...gater,
    denyDialMultiaddr: async (ma) =>
      !isLocalMultiaddr(ma) || ((await gater.denyDialMultiaddr?.(ma)) ?? false),
  };
}
