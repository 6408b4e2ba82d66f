/**
 * Mutations of real configuration descriptors for the fuzz test: bit flips, byte and field overwrites, truncation,
 * length fields set to 0/1/255, shuffled, removed, duplicated and spliced descriptors, wrong wTotalLength.
 */
import type { Prng } from './prng.js';

/** Offsets of the descriptors after the configuration header, following bLength as long as it makes sense. */
export function descriptorOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  let offset = bytes.length >= 9 ? bytes[0]! : bytes.length;
  while (offset + 2 <= bytes.length && bytes[offset]! >= 2 && offset + bytes[offset]! <= bytes.length) {
    offsets.push(offset);
    offset += bytes[offset]!;
  }
  return offsets;
}

function descriptorsOf(bytes: Uint8Array): Uint8Array[] {
  return descriptorOffsets(bytes).map((o) => bytes.slice(o, o + bytes[o]!));
}

function reassemble(header: Uint8Array, parts: Uint8Array[], fixTotal: boolean): Uint8Array {
  const total = header.length + parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  out.set(header, 0);
  let at = header.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  if (fixTotal && out.length >= 4) {
    out[2] = total & 0xff;
    out[3] = (total >> 8) & 0xff;
  }
  return out;
}

const INTERESTING = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff];

export type MutationName =
  | 'bit-flips'
  | 'byte-overwrites'
  | 'interesting-field'
  | 'truncate'
  | 'length-field'
  | 'total-length'
  | 'shuffle'
  | 'remove'
  | 'duplicate'
  | 'splice';

export const MUTATIONS: readonly MutationName[] = [
  'bit-flips',
  'byte-overwrites',
  'interesting-field',
  'truncate',
  'length-field',
  'total-length',
  'shuffle',
  'remove',
  'duplicate',
  'splice',
];

export function mutate(original: Uint8Array, rng: Prng, mutation: MutationName, donors: readonly Uint8Array[]): Uint8Array {
  const bytes = original.slice();
  const offsets = descriptorOffsets(bytes);
  switch (mutation) {
    case 'bit-flips': {
      const flips = 1 + rng.below(8);
      for (let i = 0; i < flips; i++) bytes[rng.below(bytes.length)]! ^= 1 << rng.below(8);
      return bytes;
    }
    case 'byte-overwrites': {
      const count = 1 + rng.below(4);
      for (let i = 0; i < count; i++) bytes[rng.below(bytes.length)] = rng.below(256);
      return bytes;
    }
    case 'interesting-field': {
      // a u8/u16/u32 field of a descriptor (counts, sizes, intervals) set to a boundary value
      const base = offsets.length > 0 ? rng.pick(offsets) : 0;
      const at = base + 2 + rng.below(24);
      const width = rng.pick([1, 2, 4]);
      const value = rng.pick(INTERESTING);
      for (let i = 0; i < width && at + i < bytes.length; i++) bytes[at + i] = value;
      return bytes;
    }
    case 'truncate':
      return bytes.slice(0, rng.below(bytes.length + 1));
    case 'length-field': {
      const at = offsets.length > 0 && rng.chance(0.9) ? rng.pick(offsets) : 0;
      bytes[at] = rng.pick([0, 1, 255, rng.below(256)]);
      return bytes;
    }
    case 'total-length': {
      const total = rng.pick([0, 1, 8, 9, bytes.length - 1, bytes.length + 1, 0xffff, rng.below(0x10000)]);
      if (bytes.length >= 4) {
        bytes[2] = total & 0xff;
        bytes[3] = (total >> 8) & 0xff;
      }
      return bytes;
    }
    case 'shuffle':
    case 'remove':
    case 'duplicate':
    case 'splice': {
      const header = bytes.slice(0, Math.min(9, bytes.length));
      const parts = descriptorsOf(bytes);
      if (parts.length === 0) return bytes;
      if (mutation === 'shuffle') {
        // permute a window of neighbouring descriptors (order matters to UVC: headers, formats, frames)
        const start = rng.below(parts.length);
        const end = Math.min(parts.length, start + 2 + rng.below(8));
        for (let i = end - 1; i > start; i--) {
          const j = start + rng.below(i - start + 1);
          [parts[i], parts[j]] = [parts[j]!, parts[i]!];
        }
      } else if (mutation === 'remove') {
        parts.splice(rng.below(parts.length), 1 + rng.below(3));
      } else if (mutation === 'duplicate') {
        const i = rng.below(parts.length);
        parts.splice(rng.below(parts.length + 1), 0, parts[i]!.slice());
      } else {
        const donor = descriptorsOf(rng.pick(donors));
        if (donor.length > 0) {
          const count = 1 + rng.below(3);
          const from = rng.below(donor.length);
          parts.splice(rng.below(parts.length + 1), 0, ...donor.slice(from, from + count));
        }
      }
      return reassemble(header, parts, rng.chance(0.8));
    }
  }
}
