/**
 * Counts, from the outside, every byte copied out of some memory and into some other: while `run` runs,
 * `Uint8Array.prototype.set`, `slice` and `copyWithin` are wrapped (they are how JavaScript copies bytes), and so
 * are the `copyRuns`, `isoScan` and `slotScan` of each holder given (the driver's native copies: the transport's
 * batched memcpy and its iso short path in C, per transfer or over a run of a stream's slots, which the frame
 * assembler calls; the scan's copies are what it reports taking). What it proves: each payload byte leaves the transfer buffers exactly once and lands
 * in the queue's buffers exactly once, so no frame is ever copied twice.
 * Wrapping deoptimises the copies, so only verification passes run under it, never a timed one.
 */
import { ScanField } from '../../src/stream/iso-scan.js';
import type { CopyRuns, IsoScan, SlotScan } from '../../src/transport/usb-transport.js';

/** Where the native copies are called through (each is swapped for a counting one while counting). */
export interface CopierHolder {
  copyRuns: CopyRuns | null;
  isoScan: IsoScan | null;
  slotScan: SlotScan | null;
  /** The memory slotScan reads (the slots' ArrayBuffer). */
  slotMemory: ArrayBufferLike | null;
}

export interface CopyCounts {
  /** Bytes copied whose source lies in one of the watched source buffers (by set, slice or copyWithin). */
  fromSources: number;
  /** Bytes written into one of the watched destination buffers by set or copyWithin. */
  intoDestinations: number;
  /** Bytes copied out of the sources into memory that is not a watched destination (extra copies). */
  fromSourcesElsewhere: number;
  /** Calls seen, of any kind and any memory. */
  calls: number;
}

type Backing = ArrayBufferLike;

export async function countCopies<T>(
  sources: Iterable<Backing>,
  destinations: Iterable<Backing>,
  run: () => Promise<T>,
  copiers: CopierHolder[] = [],
): Promise<{ result: T; counts: CopyCounts }> {
  const from = new Set<Backing>(sources);
  const into = new Set<Backing>(destinations);
  const counts: CopyCounts = { fromSources: 0, intoDestinations: 0, fromSourcesElsewhere: 0, calls: 0 };
  const proto = Uint8Array.prototype as unknown as Record<string, unknown>;
  const typedProto = Object.getPrototypeOf(Uint8Array.prototype) as {
    set: (this: Uint8Array, source: ArrayLike<number>, offset?: number) => void;
    slice: (this: Uint8Array, start?: number, end?: number) => Uint8Array;
    copyWithin: (this: Uint8Array, target: number, start: number, end?: number) => Uint8Array;
  };
  const originalSet = typedProto.set;
  const originalSlice = typedProto.slice;
  const originalCopyWithin = typedProto.copyWithin;

  function set(this: Uint8Array, source: ArrayLike<number>, offset?: number): void {
    counts.calls++;
    const length = source.length;
    const sourceBacking = ArrayBuffer.isView(source) ? source.buffer : null;
    const fromSource = sourceBacking !== null && from.has(sourceBacking);
    const intoDestination = into.has(this.buffer);
    if (fromSource) counts.fromSources += length;
    if (intoDestination) counts.intoDestinations += length;
    if (fromSource && !intoDestination) counts.fromSourcesElsewhere += length;
    originalSet.call(this, source, offset);
  }
  function slice(this: Uint8Array, start?: number, end?: number): Uint8Array {
    counts.calls++;
    const copy = originalSlice.call(this, start, end);
    if (from.has(this.buffer)) {
      counts.fromSources += copy.length;
      counts.fromSourcesElsewhere += copy.length;
    }
    return copy;
  }
  function copyWithin(this: Uint8Array, target: number, start: number, end?: number): Uint8Array {
    counts.calls++;
    const length = Math.max(0, Math.min(end ?? this.length, this.length) - start);
    if (from.has(this.buffer)) {
      counts.fromSources += length;
      counts.fromSourcesElsewhere += length;
    }
    if (into.has(this.buffer)) counts.intoDestinations += length;
    return originalCopyWithin.call(this, target, start, end);
  }

  function countedRuns(original: CopyRuns): CopyRuns {
    return (source, destination, table, count) => {
      counts.calls++;
      let length = 0;
      for (let r = 0; r < count; r++) length += table[3 * r + 1]!;
      const fromSource = from.has(source.buffer);
      const intoDestination = into.has(destination.buffer);
      if (fromSource) counts.fromSources += length;
      if (intoDestination) counts.intoDestinations += length;
      if (fromSource && !intoDestination) counts.fromSourcesElsewhere += length;
      original(source, destination, table, count);
    };
  }

  function countedScan(original: IsoScan): IsoScan {
    return (source, lengths, statuses, memory, state) => {
      counts.calls++;
      const stop = original(source, lengths, statuses, memory, state);
      if (memory !== null) {
        const length = state[ScanField.BYTES]!;
        const fromSource = from.has(source.buffer);
        const intoDestination = into.has(memory.buffer);
        if (fromSource) counts.fromSources += length;
        if (intoDestination) counts.intoDestinations += length;
        if (fromSource && !intoDestination) counts.fromSourcesElsewhere += length;
      }
      return stop;
    };
  }

  /** Over a run of slots: its bytes came out of the slots' memory. */
  function countedSlotScan(original: SlotScan, slotMemory: ArrayBufferLike | null): SlotScan {
    return (slots, runCounts, memory, state) => {
      counts.calls++;
      const stop = original(slots, runCounts, memory, state);
      if (memory !== null) {
        const length = state[ScanField.BYTES]!;
        const fromSource = slotMemory !== null && from.has(slotMemory);
        const intoDestination = into.has(memory.buffer);
        if (fromSource) counts.fromSources += length;
        if (intoDestination) counts.intoDestinations += length;
        if (fromSource && !intoDestination) counts.fromSourcesElsewhere += length;
      }
      return stop;
    };
  }

  proto['set'] = set;
  proto['slice'] = slice;
  proto['copyWithin'] = copyWithin;
  const originals = copiers.map((holder) => holder.copyRuns);
  const originalScans = copiers.map((holder) => holder.isoScan);
  const originalSlotScans = copiers.map((holder) => holder.slotScan);
  copiers.forEach((holder, i) => {
    const original = originals[i];
    if (original) holder.copyRuns = countedRuns(original);
    const originalScan = originalScans[i];
    if (originalScan) holder.isoScan = countedScan(originalScan);
    const originalSlotScan = originalSlotScans[i];
    if (originalSlotScan) holder.slotScan = countedSlotScan(originalSlotScan, holder.slotMemory);
  });
  try {
    const result = await run();
    return { result, counts };
  } finally {
    delete proto['set'];
    delete proto['slice'];
    delete proto['copyWithin'];
    copiers.forEach((holder, i) => {
      holder.copyRuns = originals[i]!;
      holder.isoScan = originalScans[i]!;
      holder.slotScan = originalSlotScans[i]!;
    });
  }
}
