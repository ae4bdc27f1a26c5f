interface ShutdownLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Graceful stop with a deadline. The first SIGTERM/SIGINT runs `close` (stop taking work, let active jobs finish,
 * close queues, then the database); if that takes longer than `graceMs`, or a second signal arrives, the process
 * exits at once. Exiting mid-job is safe: the claim protocol turns an interrupted send into `unknown`, never a repeat.
 */
export function onShutdown(logger: ShutdownLogger, graceMs: number, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.info({ signal }, "second signal: exiting now");
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal, graceMs }, "shutting down");
    const timer = setTimeout(() => {
      logger.error({ graceMs }, "shutdown deadline passed: exiting with work still active");
      process.exit(1);
    }, graceMs);
    timer.unref();
    close().then(
      () => {
        logger.info({}, "stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: (error as Error).message }, "error while shutting down");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
