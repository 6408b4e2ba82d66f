/**
 * Splits a USB/IP byte stream into messages: a 48-byte URB header and the body its header announces. TCP
 * delivers arbitrary chunks; a message that lies wholly in one chunk is handed on as views into that chunk (no
 * copy, the common case for the small CMD_SUBMITs of an IN stream), one that straddles chunks is assembled in a
 * buffer of its exact size.
 */
import { URB_HEADER_SIZE } from './protocol.js';

const EMPTY = Buffer.alloc(0);

/**
 * `bodyLength` reads a complete header at `header[at…]` and returns how many body bytes follow it (throw to
 * reject the stream). `onMessage` gets the header (valid only during the call: it may be a reused buffer) and
 * the body (the receiver may keep it).
 */
export class UrbFramer {
  private readonly header = Buffer.alloc(URB_HEADER_SIZE);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;

  constructor(
    private readonly bodyLength: (header: Buffer, at: number) => number,
    private readonly onMessage: (header: Buffer, at: number, body: Buffer) => void,
  ) {}

  /** True while a message is partly received. */
  get midMessage(): boolean {
    return this.headerFill > 0;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    let at = 0;
    while (at < n) {
      if (this.headerFill === 0 && n - at >= URB_HEADER_SIZE) {
        const len = this.bodyLength(chunk, at);
        const end = at + URB_HEADER_SIZE + len;
        if (end <= n) {
          this.onMessage(chunk, at, len === 0 ? EMPTY : chunk.subarray(at + URB_HEADER_SIZE, end));
          at = end;
          continue;
        }
        // Header here, body still to come: fall through and assemble.
      }
      if (this.headerFill < URB_HEADER_SIZE) {
        const take = Math.min(URB_HEADER_SIZE - this.headerFill, n - at);
        chunk.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill < URB_HEADER_SIZE) return;
        const len = this.bodyLength(this.header, 0);
        if (len === 0) {
          this.headerFill = 0;
          this.onMessage(this.header, 0, EMPTY);
          continue;
        }
        this.body = Buffer.allocUnsafe(len);
        this.bodyFill = 0;
        continue;
      }
      const body = this.body as Buffer;
      const take = Math.min(body.length - this.bodyFill, n - at);
      chunk.copy(body, this.bodyFill, at, at + take);
      this.bodyFill += take;
      at += take;
      if (this.bodyFill === body.length) {
        this.body = null;
        this.headerFill = 0;
        this.onMessage(this.header, 0, body);
      }
    }
  }
}
