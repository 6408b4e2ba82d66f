/**
 * Transfers in slot memory (the addon's slotMemory: laid out as a stream's slots), so that the stream's scan over
 * runs of slots (UsbStream.scanSlots) can read them: place() copies a test transfer into the next slot, round
 * robin, and returns it there (its `slot` the slot's number).
 */
import type { NativeAddon } from '../../../src/transport/native/addon-types.js';
import type { SlotScan } from '../../../src/transport/usb-transport.js';
import { TestTransfer } from './transfers.js';

export class SlotPool {
  readonly scanSlots: SlotScan;
  private readonly slots: ReturnType<NativeAddon['slotMemory']>['slots'];
  private next = 0;

  constructor(addon: NativeAddon, slots: number, packets: number, packetSize: number) {
    const memory = addon.slotMemory(slots, packets, packetSize);
    this.slots = memory.slots;
    this.scanSlots = memory.scanSlots;
  }

  /** The memory the slots' buffers are views of. */
  get memory(): ArrayBufferLike {
    return this.slots[0]!.buffer.buffer;
  }

  place(transfer: TestTransfer): TestTransfer {
    const slot = this.next;
    this.next = (this.next + 1) % this.slots.length;
    const views = this.slots[slot]!;
    if (transfer.packetCount > views.packetLength.length || transfer.buffer.length > views.buffer.length) {
      throw new RangeError('the transfer does not fit a slot of this pool');
    }
    views.buffer.fill(0);
    views.buffer.set(transfer.buffer);
    views.packetStatus.set(transfer.packetStatus);
    views.packetLength.set(transfer.packetLength);
    const placed = new TestTransfer(views.buffer, 0);
    Object.assign(placed, { ...transfer, slot, buffer: views.buffer, packetStatus: views.packetStatus, packetLength: views.packetLength, released: 0 });
    return placed;
  }
}
