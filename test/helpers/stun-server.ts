/**
 * A STUN server (RFC 5389 Binding only), for the namespace lab's public segment: it answers a Binding
 * Request with a Binding Success Response carrying XOR-MAPPED-ADDRESS (the source address and port the
 * request came from, i.e. the NAT's mapping) and FINGERPRINT. That is all ICE asks of a STUN server to
 * gather server-reflexive candidates; no authentication, no TURN. Everything else is dropped.
 *
 * Run as a program inside a namespace: `node --import tsx test/helpers/stun-server.ts HOST PORT`; it prints
 * `listening` once bound, and one line `binding <address>:<port>` per answered request.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { createInterface } from 'node:readline';
import { crc32 } from 'node:zlib';
import type { NetLab, Netns } from './netns.ts';

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;
const FINGERPRINT = 0x8028;
const FINGERPRINT_XOR = 0x5354554e;
const HEADER_BYTES = 20;

/** The Binding Success Response to `request` from `from`, or undefined when `request` is no Binding Request. */
export function bindingResponse(
  request: Buffer,
  from: Pick<RemoteInfo, 'address' | 'port'>,
): Buffer | undefined {
  if (request.length < HEADER_BYTES || request.readUInt16BE(0) !== BINDING_REQUEST) return undefined;
  if (request.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  if (request.readUInt16BE(2) + HEADER_BYTES !== request.length) return undefined;
  if (!isIPv4(from.address)) return undefined;
  const transaction = request.subarray(8, 20);
  // XOR-MAPPED-ADDRESS (IPv4): reserved, family 0x01, port and address XORed with the magic cookie.
  const mapped = Buffer.alloc(4 + 8);
  mapped.writeUInt16BE(XOR_MAPPED_ADDRESS, 0);
  mapped.writeUInt16BE(8, 2);
  mapped.writeUInt8(0x01, 5);
  mapped.writeUInt16BE(from.port ^ (MAGIC_COOKIE >>> 16), 6);
  const ip = from.address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  mapped.writeUInt32BE((ip ^ MAGIC_COOKIE) >>> 0, 8);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(BINDING_SUCCESS, 0);
  header.writeUInt16BE(mapped.length + 8, 2);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  transaction.copy(header, 8);
  const body = Buffer.concat([header, mapped]);
  // FINGERPRINT: CRC-32 of the message up to here (its length already counting this attribute), XORed.
  const fingerprint = Buffer.alloc(8);
  fingerprint.writeUInt16BE(FINGERPRINT, 0);
  fingerprint.writeUInt16BE(4, 2);
  fingerprint.writeUInt32BE((crc32(body) ^ FINGERPRINT_XOR) >>> 0, 4);
  return Buffer.concat([body, fingerprint]);
}

/** A STUN server bound to `host:port` (UDP); resolves once listening. */
export async function startStunServer(
  host: string,
  port: number,
  onBinding: (from: RemoteInfo) => void = () => {},
): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, from) => {
    const response = bindingResponse(msg, from);
    if (response === undefined) return;
    socket.send(response, from.port, from.address);
    onBinding(from);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

/**
 * Runs this server as a process in a lab namespace, at `host:port`; resolves once it listens, with the
 * list (growing) of `address:port` it answered, i.e. the NAT mappings it told.
 */
export async function startLabStunServer(
  lab: NetLab,
  ns: Netns,
  host: string,
  port: number,
): Promise<{ readonly bindings: readonly string[] }> {
  const child = lab.spawn(ns, process.execPath, [
    '--import',
    'tsx',
    import.meta.filename,
    host,
    String(port),
  ]);
  const bindings: string[] = [];
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`STUN server exited (${code})`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'listening') resolve();
      else bindings.push(line.replace(/^binding /, ''));
    });
  });
  return { bindings };
}

if (process.argv[1] === import.meta.filename) {
  const [host, port] = process.argv.slice(2);
  await startStunServer(host!, Number(port), (from) => console.log(`binding ${from.address}:${from.port}`));
  console.log('listening');
}
