/**
 * Bounds-checked little-endian reads from one descriptor. Every read names the field and the descriptor's offset
 * in the configuration, so a lie in a length field surfaces as a clear EINVAL instead of a wrong number.
 */
import { UvcError } from '../../errors.js';

export function hex(value: number, digits = 2): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}

/** 'offset 476 (0x1dc)': how messages name a place in the configuration. */
export function at(offset: number): string {
  return `offset ${offset} (${hex(offset, 3)})`;
}

export class ByteReader {
  /**
   * @param bytes the descriptor, exactly bLength bytes (or fewer if the configuration was cut)
   * @param offset where it starts in the configuration
   * @param what a name for messages, e.g. 'VS frame descriptor'
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly offset: number,
    readonly what: string,
  ) {}

  get length(): number {
    return this.bytes.length;
  }

  has(position: number, size: number): boolean {
    return position >= 0 && size >= 0 && position + size <= this.bytes.length;
  }

  u8(position: number, field: string): number {
    this.check(position, 1, field);
    return this.bytes[position]!;
  }

  u16(position: number, field: string): number {
    this.check(position, 2, field);
    return this.bytes[position]! | (this.bytes[position + 1]! << 8);
  }

  u32(position: number, field: string): number {
    this.check(position, 4, field);
    return (
      (this.bytes[position]! |
        (this.bytes[position + 1]! << 8) |
        (this.bytes[position + 2]! << 16) |
        (this.bytes[position + 3]! << 24)) >>>
      0
    );
  }

  slice(position: number, size: number, field: string): Uint8Array {
    this.check(position, size, field);
    return this.bytes.slice(position, position + size);
  }

  /** A little-endian bitmap of `size` bytes → the numbers of its set bits. */
  bits(position: number, size: number, field: string): number[] {
    this.check(position, size, field);
    const set: number[] = [];
    for (let i = 0; i < size; i++) {
      const byte = this.bytes[position + i]!;
      for (let b = 0; b < 8; b++) if (byte & (1 << b)) set.push(i * 8 + b);
    }
    return set;
  }

  private check(position: number, size: number, field: string): void {
    if (!this.has(position, size)) {
      throw new UvcError(
        'EINVAL',
        `${at(this.offset)}: ${this.what} is ${this.bytes.length} bytes, too short for ${field} (needs ${position + size})`,
        { details: { offset: this.offset, field, length: this.bytes.length } },
      );
    }
  }
}
