/**
 * State shared by the parts of one parse: the warnings it collects and a step counter. Every loop of the parser
 * ticks the counter, so the fuzz test can prove the work is linear in the input (no hang, no blow-up).
 */
import { isUvcError } from '../../errors.js';
import { at } from './byte-reader.js';

/** Warnings beyond this many are counted, not kept: a hostile descriptor must not make the model grow unbounded. */
const MAX_WARNINGS = 200;

export class ParseContext {
  readonly warnings: string[] = [];
  steps = 0;
  private dropped = 0;

  warn(offset: number, message: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(`${at(offset)}: ${message}`);
    else this.dropped++;
  }

  tick(count = 1): void {
    this.steps += count;
  }

  /**
   * Runs the parse of one descriptor; a field read past its end (the ByteReader's EINVAL) becomes a warning and the
   * descriptor is skipped, the way uvcvideo skips a broken descriptor and carries on.
   */
  attempt<T>(offset: number, what: string, parse: () => T): T | null {
    try {
      return parse();
    } catch (error) {
      if (isUvcError(error, 'EINVAL')) {
        this.warn(offset, `${what} skipped: ${error.message.replace(/^EINVAL: /, '')}`);
        return null;
      }
      throw error;
    }
  }

  finish(): string[] {
    if (this.dropped > 0) this.warnings.push(`${this.dropped} more warnings not shown`);
    return this.warnings;
  }
}
