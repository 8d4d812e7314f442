/**
 * The STUN message format the STUN responder (node/network/stun-responder.ts) speaks: RFC 5389, Binding
 * only. Pure parsing and encoding with its size cap, no socket and no state: apart from the responder so
 * that what is answered is decided byte by byte in one place, and the responder holds only its sockets
 * and rate limits.
 *
 * A Binding Request is 20 bytes of header and optional attributes:
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |0 0|  type 0x0001 (Binding Req.) |   length (bytes after header) |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                    magic cookie 0x2112A442                    |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                  transaction ID (96 bits)                     |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  attributes: type (16) | length (16) | value, padded to 4 ...  |
 *
 * The answer is a Binding Success Response (0x0101) with the same transaction ID, XOR-MAPPED-ADDRESS
 * (the request's source address and port: the NAT's mapping) and FINGERPRINT. Anything else is not a
 * Binding Request this responder answers (parseBindingRequest gives undefined; the responder drops it
 * without an answer): a packet shorter than the header or over MAX_STUN_REQUEST_BYTES, a length field that
 * is not the packet's, not a multiple of 4 or overrunning attributes, another cookie, another message
 * type (indications, responses, other methods), a FINGERPRINT that is not last or does not match, and
 * MESSAGE-INTEGRITY or USERNAME (credentials this responder does not hold).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { crc32 } from 'node:zlib';
import { multiaddr } from '@multiformats/multiaddr';

export const STUN_MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ATTR_USERNAME = 0x0006;
const ATTR_MESSAGE_INTEGRITY = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_FINGERPRINT = 0x8028;
const FINGERPRINT_XOR = 0x5354554e;
const HEADER_BYTES = 20;
/** Largest request answered: RFC 5389 keeps STUN over UDP under 548 bytes when the path MTU is unknown. */
export const MAX_STUN_REQUEST_BYTES = 548;

/**
 * The transaction ID of `packet` when it is a Binding Request this responder answers (see the module's
 * comment), else undefined.
 */
export function parseBindingRequest(packet: Uint8Array): Uint8Array | undefined {
  if (packet.length < HEADER_BYTES || packet.length > MAX_STUN_REQUEST_BYTES) return undefined;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  if (view.getUint16(0) !== BINDING_REQUEST) return undefined; // also the two leading zero bits
  const length = view.getUint16(2);
  if (length % 4 !== 0 || HEADER_BYTES + length !== packet.length) return undefined;
  if (view.getUint32(4) !== STUN_MAGIC_COOKIE) return undefined;
  let at = HEADER_BYTES;
  while (at < packet.length) {
    if (at + 4 > packet.length) return undefined;
    const type = view.getUint16(at);
    const valueBytes = view.getUint16(at + 2);
    const next = at + 4 + Math.ceil(valueBytes / 4) * 4;
    if (next > packet.length) return undefined;
    if (type === ATTR_USERNAME || type === ATTR_MESSAGE_INTEGRITY) return undefined;
    if (type === ATTR_FINGERPRINT) {
      // Last, 4 bytes, and the CRC-32 of everything before it, XORed.
      if (valueBytes !== 4 || next !== packet.length) return undefined;
      if (view.getUint32(at + 4) !== (crc32(packet.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0)
        return undefined;
    }
    at = next;
  }
  return packet.subarray(8, HEADER_BYTES);
}

/** The Binding Success Response for `transaction`, telling `address`:`port` (IPv4 or IPv6). */
export function bindingResponse(transaction: Uint8Array, address: string, port: number): Uint8Array {
  const ip = addressBytes(address);
  const response = new Uint8Array(HEADER_BYTES + 4 + 4 + ip.length + 8);
  const view = new DataView(response.buffer);
  view.setUint16(0, BINDING_SUCCESS);
  view.setUint16(2, response.length - HEADER_BYTES);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  response.set(transaction, 8);
  // XOR-MAPPED-ADDRESS: reserved, family (1 IPv4, 2 IPv6), port XOR the cookie's high half, address XOR
  // the cookie (IPv6: the cookie then the transaction ID).
  let at = HEADER_BYTES;
  view.setUint16(at, ATTR_XOR_MAPPED_ADDRESS);
  view.setUint16(at + 2, 4 + ip.length);
  view.setUint8(at + 5, ip.length === 4 ? 0x01 : 0x02);
  view.setUint16(at + 6, port ^ (STUN_MAGIC_COOKIE >>> 16));
  const mask = response.subarray(4, 4 + ip.length);
  for (let i = 0; i < ip.length; i++) response[at + 8 + i] = ip[i]! ^ mask[i]!;
  at += 8 + ip.length;
  // FINGERPRINT: CRC-32 of the message before it (its length already counting this attribute), XORed.
  view.setUint16(at, ATTR_FINGERPRINT);
  view.setUint16(at + 2, 4);
  view.setUint32(at + 4, (crc32(response.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0);
  return response;
}

/** An IP address's bytes (4 or 16); a zone (`fe80::1%eth0`) is dropped. */
export function addressBytes(address: string): Uint8Array {
  const ip = address.split('%')[0]!;
  if (!isIPv4(ip) && !isIPv6(ip)) throw new RangeError(`not an IP address: ${address}`);
  // A multiaddr's bytes: the protocol code (one byte for ip4 and ip6), then the address.
  return multiaddr(`/${isIPv4(ip) ? 'ip4' : 'ip6'}/${ip}`).bytes.subarray(1);
}
