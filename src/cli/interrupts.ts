/**
 * Ctrl-C as people expect it: the first stops cleanly (stream off, camera closed, every complete frame kept), a
 * second one quits at once. SIGTERM stops cleanly too (service managers, CI runners).
 */

export interface InterruptHandle {
  /** True once a stop was asked for. */
  readonly interrupted: boolean;
  dispose(): void;
}

export function onInterrupt(stop: (signal: NodeJS.Signals) => void, quitNow: () => void): InterruptHandle {
  let count = 0;
  const handler = (signal: NodeJS.Signals): void => {
    count++;
    if (count === 1) stop(signal);
    else quitNow();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get interrupted() {
      return count > 0;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
