/**
 * Ctrl-C as people expect it: the first stops cleanly (stream off, camera closed, every complete frame kept), a
 * second one quits at once. SIGTERM stops cleanly too (service managers, CI runners).
 */
import { ExitCode } from './exit-codes.js';

export interface InterruptHandle {
  /** True once a stop was asked for. */
  readonly interrupted: boolean;
  dispose(): void;
}

function quitAfterDispose(): void {
  process.exit(ExitCode.INTERRUPTED);
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
      // Once a stop was asked for, a further Ctrl-C while the command winds up (summary, exit) still means "quit
      // now": exit with the interrupted code rather than die by the signal with no code at all.
      if (count > 0 && !process.listeners('SIGINT').includes(quitAfterDispose)) {
        process.on('SIGINT', quitAfterDispose);
        process.on('SIGTERM', quitAfterDispose);
      }
    },
  };
}
