/**
 * protocol/log-holders.ts: the body of a tile exchange `<logID>/holders` answer (the peers a node served a
 * log's entry bundles to lately) is parsed strictly, and the resource name is part of the shared grammar.
 */
import test from 'ava';
import { MAX_LOG_HOLDERS } from '../protocol/constants.ts';
import { MalformedError, TooLargeError } from '../protocol/errors.ts';
import { formatLogHolders, MAX_LOG_HOLDERS_BYTES, parseLogHolders } from '../protocol/log-holders.ts';
import { parseLogResource } from '../protocol/log-resource.ts';

const A = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf';
const B = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N';
const utf8 = new TextEncoder();

test('a holders list round-trips, one PeerId per line, in order', (t) => {
  const body = formatLogHolders([A, B]);
  t.is(new TextDecoder().decode(body), `${A}\n${B}\n`);
  t.deepEqual(parseLogHolders(body), [A, B]);
  const most = Array.from({ length: MAX_LOG_HOLDERS }, (_, i) => `${A.slice(0, -1)}${'abcdefghijk'[i]}`);
  t.deepEqual(parseLogHolders(formatLogHolders(most)), most);
});

test('a holders body that is empty, unterminated, too long, doubled or not base58 is refused', (t) => {
  const bad = [
    '',
    '\n',
    A, // no final newline
    `${A}\n\n`, // an empty line
    `${A}\r\n`,
    `${A}\n${A}\n`, // a peer twice
    `${A.replace('G', '0')}\n`, // 0 is not in the base58btc alphabet
    `${A.replace('G', 'l')}\n`, // nor l
    `${'1'.repeat(65)}\n`, // longer than a PeerId
    `${A} \n`,
    `${A}\né\n`,
    `${Array.from({ length: MAX_LOG_HOLDERS + 1 }, (_, i) => `${A.slice(0, -1)}${'abcdefghijk'[i]}`).join('\n')}\n`,
  ];
  for (const text of bad)
    t.throws(() => parseLogHolders(utf8.encode(text)), { instanceOf: MalformedError }, JSON.stringify(text));
  const huge = new Uint8Array(MAX_LOG_HOLDERS_BYTES + 1).fill(0x31);
  t.throws(() => parseLogHolders(huge), { instanceOf: TooLargeError });
  t.throws(() => formatLogHolders([]), { instanceOf: RangeError });
  t.throws(() => formatLogHolders([A, A]), { instanceOf: RangeError });
});

test('`<logID>/holders` is a log resource of its own', (t) => {
  const logId = 'ab'.repeat(32);
  t.deepEqual(parseLogResource(`${logId}/holders`), { logId, holders: true });
  t.is(parseLogResource(`${logId}/holders/`), undefined);
  t.is(parseLogResource(`${logId}/Holders`), undefined);
});
