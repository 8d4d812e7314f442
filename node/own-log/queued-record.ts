/**
 * A queued request as stored (in the submission journal, or held back in LevelDB for a retry): one
 * line per submission (UTF-8, '\n' between lines; the values hold no newline, as the submit server
 * checks), a kind letter, a space, the value:
 *   d /nix/store/…-x.drv                  a derivation: outputs resolved by the node (post-build hook)
 *   p /nix/store/…-x                      a store path: NAR hash and references computed by the node
 *   e 1;/nix/store/…;sha256:…;123;        a ready fingerprint (import-cache)
 * Plain lines, not JSON: bulk imports queue hundreds of thousands of entries, and this is their cost.
 * For the same reason a record is kept as its stored bytes: the sequencer takes ready entries as views
 * of them, and only drv and path lines become strings.
 */

export type Submission =
  | { readonly kind: 'drv'; readonly drvPath: string }
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'entry'; readonly entry: string };

const NEWLINE = 0x0a;
const KIND_BYTE = { drv: 0x64, path: 0x70, entry: 0x65 } as const; // 'd', 'p', 'e'

/** One acknowledged request as stored: its sequence number and its lines, decoded on demand. */
export class QueuedRecord {
  readonly seq: number;
  /** The stored value: one line per submission. */
  readonly value: Buffer;
  /** Number of submissions (lines). */
  readonly count: number;
  /** In the journal (new), or in LevelDB (held back for a retry, or queued by an older version). */
  readonly inJournal: boolean;

  /** `count` when the caller knows it already (the queue does for its records): else counted here. */
  constructor(seq: number, value: Uint8Array, inJournal: boolean, count?: number) {
    this.seq = seq;
    this.inJournal = inJournal;
    this.value = Buffer.isBuffer(value)
      ? value
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    this.count = count ?? countLines(this.value);
  }

  /** Every submission, in order (decodes the whole record; the sequencer uses `visit`). */
  get submissions(): Submission[] {
    const out: Submission[] = [];
    this.visit(
      (entry) => out.push({ kind: 'entry', entry: entry.toString('latin1') }),
      (submission) => out.push(submission),
    );
    return out;
  }

  /**
   * Walks the lines in order: ready entries as views of the stored bytes (ASCII, checked at
   * submission), the others decoded as submissions. The views live as long as the record.
   */
  visit(onEntry: (entry: Buffer) => void, onOther: (submission: Submission) => void): void {
    const value = this.value;
    let start = 0;
    while (start <= value.length) {
      let end = value.indexOf(NEWLINE, start);
      if (end === -1) end = value.length;
      const kind = value[start];
      if (value[start + 1] !== 0x20 || end - start < 3)
        throw new TypeError(`malformed queued record ${this.seq}`);
      if (kind === KIND_BYTE.entry) onEntry(value.subarray(start + 2, end));
      else {
        const text = value.toString('utf8', start + 2, end);
        if (kind === KIND_BYTE.path) onOther({ kind: 'path', path: text });
        else if (kind === KIND_BYTE.drv) onOther({ kind: 'drv', drvPath: text });
        else throw new TypeError(`unknown queued submission in record ${this.seq}: ${text.slice(0, 200)}`);
      }
      start = end + 1;
    }
  }
}

/** A record's payload: written straight into one buffer (building line strings first costs several times more). */
export function encodeRecord(submissions: readonly Submission[]): Buffer {
  let total = submissions.length - 1;
  const values = submissions.map((s) => {
    const value = s.kind === 'entry' ? s.entry : s.kind === 'path' ? s.path : s.drvPath;
    if (value.includes('\n')) throw new RangeError('a queued submission cannot hold a newline');
    total += 2 + Buffer.byteLength(value, 'utf8');
    return value;
  });
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  submissions.forEach((s, i) => {
    if (i > 0) out[pos++] = NEWLINE;
    out[pos++] = KIND_BYTE[s.kind];
    out[pos++] = 0x20;
    pos += out.write(values[i]!, pos, 'utf8');
  });
  return out;
}

/** Lines of a record: one more than its newlines (memchr through indexOf, no decoding). */
export function countLines(value: Uint8Array): number {
  const buffer = Buffer.isBuffer(value)
    ? value
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  let n = 1;
  for (let at = buffer.indexOf(NEWLINE); at !== -1; at = buffer.indexOf(NEWLINE, at + 1)) n++;
  return n;
}
