/**
 * Runs a started service until the run's signal (SIGINT or SIGTERM, cli/io.ts) aborts, then stops it
 * cleanly.
 */
import { aborted, type CliIo, signalName } from './io.ts';

export async function untilSignal(service: { stop(): Promise<void> }, io: CliIo): Promise<void> {
  await aborted(io.signal);
  io.stderr.write(`${signalName(io.signal!)}: stopping\n`);
  await service.stop().catch((err: unknown) => {
    io.stderr.write(`trustix: error while stopping: ${String(err)}\n`);
  });
}
