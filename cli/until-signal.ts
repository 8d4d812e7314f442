/**
 * Runs a started service until SIGINT or SIGTERM, then stops it cleanly.
 */
export function untilSignal(service: { stop(): Promise<void> }): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stderr.write(`${signal}: stopping\n`);
      service.stop().then(resolve, (err: unknown) => {
        process.stderr.write(`trustix: error while stopping: ${String(err)}\n`);
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
