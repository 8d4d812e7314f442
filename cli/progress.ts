/**
 * Progress for long work, on stderr: a bar redrawn in place on a terminal, a plain line every few
 * seconds otherwise (logs stay readable), nothing when --json output goes to a non-terminal.
 */
import type { CliOutput } from './io.ts';

export class Progress {
  private readonly label: string;
  private readonly stderr: CliOutput;
  private readonly tty: boolean;
  private readonly quiet: boolean;
  private last = 0;
  private drawn = false;

  constructor(label: string, json: boolean, stderr: CliOutput) {
    this.label = label;
    this.stderr = stderr;
    this.tty = stderr.isTTY === true;
    // Plain lines would clutter a log that is mostly the JSON document; a terminal still gets the bar.
    this.quiet = json && !this.tty;
  }

  /** Reports `done` of `total`, with an optional detail; `force` draws even if one was drawn just now. */
  update(done: number, total: number, detail = '', force = false): void {
    if (this.quiet) return;
    const now = Date.now();
    if (!force && done !== total && now - this.last < (this.tty ? 100 : 2000)) return;
    this.last = now;
    const counts = `${done}/${total}${detail ? `  ${detail}` : ''}`;
    if (this.tty) {
      const width = 30;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      this.stderr.write(
        `\r${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${counts}\x1b[K`,
      );
      this.drawn = true;
    } else {
      this.stderr.write(`${this.label}: ${counts}\n`);
    }
  }

  /** Ends the bar's line (call once the work is over, however it ended). */
  end(): void {
    if (this.drawn) this.stderr.write('\n');
    this.drawn = false;
  }
}
