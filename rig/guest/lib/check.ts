/**
 * The contract of a guest check. A check is one file in rig/guest/checks/, named `NN-name.ts` (NN orders the
 * run, `name` is what PASS/FAIL lines show). Its default export is an async function that throws to fail; it
 * runs in its own node process (a crash or a hang fails that check only), inside the guest, as root, in a chroot
 * of the host's root with the project at the same path as on the host.
 */
import { basename } from 'node:path';

export interface CheckContext {
  /** The check's name (file name without NN- and extension). */
  name: string;
  /** Writable directory shared with the host (results, logs); the same path on both sides. */
  runDir: string;
  /** Host-built helper programs (rig/tools), e.g. `${toolsDir}/iso-reader`. */
  toolsDir: string;
  /** The project's root. */
  projectRoot: string;
  /** Prints a line into the check's log (shown on failure, and in the full guest log). */
  log(message: string): void;
}

export type Check = (ctx: CheckContext) => Promise<void>;

/**
 * A check file may declare `export const timeoutMs = <number literal>;` to change its time limit from this
 * default (the runner reads it from the file without importing it).
 */
export const DEFAULT_CHECK_TIMEOUT_MS = 120_000;

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

export function assertEqual<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) throw new Error(`${what}: got ${String(actual)}, expected ${String(expected)}`);
}

/** `10-usbip-enumeration.js` → `usbip-enumeration` */
export function checkName(file: string): string {
  return basename(file)
    .replace(/\.(js|ts)$/, '')
    .replace(/^\d+-/, '');
}
