/**
 * Resolves with the first SIGTERM or SIGINT; later ones go to `onRepeat` (shutdown is under way).
 *
 * `process.on`, never `once`: write-file-atomic (the usage journal, pins) registers signal-exit
 * while a write is under way, and signal-exit re-raises a signal when it finds itself the only
 * listener left. A `once` listener has removed itself by the time signal-exit looks, so a
 * SIGTERM that met a journal write (as one right after start-up does) killed the process
 * outright: no graceful close, nothing logged, `npm start` dying of SIGTERM about one run in three.
 */
export function shutdownSignal(onRepeat: (signal: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  let received = false;
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (received) {
        onRepeat(signal);
        return;
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
