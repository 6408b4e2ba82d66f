/**
 * Where the CLI's words go. Results (tables, summaries, JSON) go to stdout; notes, warnings and progress go to
 * stderr, so `--json` output and `-o -` streams stay clean. `--quiet` silences notes, never errors.
 */
import { CliError } from './exit-codes.js';

export interface UiOptions {
  quiet?: boolean;
  /** Results go to stderr too (stdout carries a frame stream). */
  stdoutTaken?: boolean;
}

export class Ui {
  readonly quiet: boolean;
  private readonly resultStream: NodeJS.WriteStream;

  constructor(options: UiOptions = {}) {
    this.quiet = options.quiet === true;
    this.resultStream = options.stdoutTaken === true ? process.stderr : process.stdout;
  }

  /** A note for the person at the terminal (stderr). */
  note(message: string): void {
    if (!this.quiet) process.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    process.stderr.write(`warning: ${message}\n`);
  }

  /** The command's result: a table, a summary, JSON. */
  result(text: string): void {
    this.resultStream.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  json(value: unknown): void {
    this.result(JSON.stringify(value, jsonReplacer, 2));
  }
}

/** JSON for values the driver hands out: bytes as hex, BigInts as numbers. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (typeof value === 'bigint') return Number(value);
  return value;
}

/** Prints an error as `uvc-capture: message` (and its hint), the way the CLI reports every failure. */
export function printError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`uvc-capture: ${message}\n`);
  if (error instanceof CliError && error.hint) process.stderr.write(`${error.hint}\n`);
}
