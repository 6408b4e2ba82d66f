/**
 * What every UsbTransport must do, as tests that take the transport from a harness. The in-process host runs
 * them against TestDevice directly; the kernel rig runs them against the same TestDevice served over USB/IP to
 * the real kernel and opened through the native addon.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isUvcError } from '../../src/errors.js';
import { TransferStatus, type CompletedTransfer, type UsbTransport } from '../../src/transport/usb-transport.js';
import type { TestDevice } from './helpers/test-device.js';

export interface OpenedTestDevice {
  transport: UsbTransport;
  device: TestDevice;
  /** A second handle on the same device. */
  openAgain(): Promise<UsbTransport>;
}

export interface ConformanceHarness {
  /** A fresh TestDevice and a transport opened on it. */
  open(): Promise<OpenedTestDevice>;
  /** Called after each test. */
  cleanup?(): Promise<void>;
}

const VENDOR_IN = { bmRequestType: 0xc0, bRequest: 0x01, wValue: 0, wIndex: 0 };
const VENDOR_OUT = { bmRequestType: 0x40, bRequest: 0x02, wValue: 0, wIndex: 0 };
const VENDOR_STALL = { bmRequestType: 0xc0, bRequest: 0x03, wValue: 0, wIndex: 0 };
const VENDOR_SILENT = { bmRequestType: 0xc0, bRequest: 0x04, wValue: 0, wIndex: 0 };

async function expectCode(promise: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(isUvcError(error), `expected a UvcError, got ${String(error)}`).toBe(true);
    expect((error as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

function collect(): { transfers: Array<{ status: number; actualLength: number; first: number[] }>; onTransfer: (t: CompletedTransfer) => void } {
  const transfers: Array<{ status: number; actualLength: number; first: number[] }> = [];
  return {
    transfers,
    onTransfer: (t) => {
      transfers.push({ status: t.status, actualLength: t.actualLength, first: Array.from(t.buffer.subarray(0, 4)) });
      t.release();
    },
  };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export function describeTransportConformance(name: string, harness: ConformanceHarness): void {
  describe(`UsbTransport conformance: ${name}`, () => {
    const opened: UsbTransport[] = [];
    async function open(): Promise<OpenedTestDevice> {
      const result = await harness.open();
      opened.push(result.transport);
      return result;
    }
    afterEach(async () => {
      for (const transport of opened.splice(0)) await transport.close();
      await harness.cleanup?.();
    });

    it('reads the descriptors it enumerated', async () => {
      const { transport } = await open();
      expect(transport.info.vendorId).toBe(0x1209);
      expect(transport.info.productId).toBe(0x0002);
      expect(transport.info.speed).toBe('high');
      const device = transport.deviceDescriptor();
      expect(device.length).toBe(18);
      expect(device[1]).toBe(1);
      const config = transport.configDescriptor();
      expect(config[1]).toBe(2);
      expect(config.length).toBe(config[2]! | (config[3]! << 8));
      expect(await transport.getStringDescriptor(2)).toBe('test device');
      expect(await transport.getStringDescriptor(3)).toBe('SERIAL-1');
    });

    it('does control transfers both ways, and reports STALL and timeouts by code', async () => {
      const { transport } = await open();
      expect(await transport.controlTransferOut(VENDOR_OUT, Uint8Array.from([1, 2, 3, 4, 5]))).toBe(5);
      expect(Array.from(await transport.controlTransferIn(VENDOR_IN, 64))).toEqual([1, 2, 3, 4, 5]);
      expect(Array.from(await transport.controlTransferIn(VENDOR_IN, 2))).toEqual([1, 2]);
      await expectCode(transport.controlTransferIn(VENDOR_STALL, 8), 'EPIPE');
      await expectCode(transport.controlTransferIn(VENDOR_SILENT, 8, 200), 'ETIMEDOUT');
      // The device still works after a stall and a timeout.
      expect((await transport.controlTransferIn(VENDOR_IN, 64)).length).toBe(5);
    });

    it('cancels a control request still pending at close: ECANCELED, not a wait for its timeout', async () => {
      const { transport } = await open();
      const pending = transport.controlTransferIn(VENDOR_SILENT, 8, 30_000);
      const outcome = pending.then(
        () => 'answered',
        (error: unknown) => (isUvcError(error) ? error.code : String(error)),
      );
      await new Promise((resolve) => setTimeout(resolve, 50)); // the request is on the bus
      await transport.close();
      // Not a timing check: the request's own timeout is 30 s; 10 s only tells a cancel from that wait.
      const settled = await Promise.race([outcome, new Promise<string>((resolve) => setTimeout(() => resolve('still pending'), 10_000).unref())]);
      expect(settled).toBe('ECANCELED');
    });

    it('rejects bad arguments with EINVAL', async () => {
      const { transport } = await open();
      await expectCode(transport.controlTransferIn({ ...VENDOR_IN, bmRequestType: 0x40 }, 8), 'EINVAL');
      await expectCode(transport.controlTransferIn({ ...VENDOR_IN, wValue: 70_000 }, 8), 'EINVAL');
      await expectCode(transport.controlTransferIn(VENDOR_IN, -1), 'EINVAL');
      await expectCode(transport.getStringDescriptor(0), 'EINVAL');
      await expectCode(transport.setAltSetting(0, 1), 'EINVAL'); // not claimed
      await transport.claimInterface(0);
      await expectCode(transport.setAltSetting(0, 7), 'EINVAL'); // no such alt setting
      await expectCode(transport.claimInterface(9), 'EINVAL');
      await expectCode(async () => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 2, packetsPerTransfer: 8, packetSize: 3072 }, () => {}), 'EINVAL'); // alt 0 has no endpoint
      await transport.setAltSetting(0, 1);
      await expectCode(async () => transport.startStream({ endpoint: 0x81, type: 'bulk', transfers: 2, transferSize: 512 }, () => {}), 'EINVAL');
      await expectCode(async () => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 2, packetsPerTransfer: 8, packetSize: 4096 }, () => {}), 'EINVAL');
      await expectCode(async () => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 0, packetsPerTransfer: 8, packetSize: 3072 }, () => {}), 'EINVAL');
      // 64 × 128 × 3072 B = 24 MiB, over the contract's MAX_STREAM_BYTES on every transport.
      await expectCode(async () => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 64, packetsPerTransfer: 128, packetSize: 3072 }, () => {}), 'EINVAL');
    });

    it('streams iso transfers, resubmitting each on release, and stops cleanly', async () => {
      const { transport } = await open();
      await transport.claimInterface(0);
      await transport.setAltSetting(0, 1);
      const { transfers, onTransfer } = collect();
      const stream = transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 3, packetsPerTransfer: 8, packetSize: 3072 }, onTransfer);
      await expectCode(async () => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 1, packetsPerTransfer: 1, packetSize: 1024 }, () => {}), 'EBUSY');
      await until(() => transfers.length >= 30, '30 iso completions');
      await stream.stop();
      const count = transfers.length;
      expect(stream.stopped).toBe(true);
      expect(stream.stats.inFlight).toBe(0);
      expect(transfers.every((t) => t.status === TransferStatus.COMPLETED)).toBe(true);
      // Packet counters arrive in order across transfers: nothing dropped or duplicated.
      const firsts = transfers.map((t) => t.first[0]! | (t.first[1]! << 8) | (t.first[2]! << 16));
      for (let i = 1; i < firsts.length; i++) expect(firsts[i]).toBe(firsts[i - 1]! + 8);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(transfers.length).toBe(count); // no callback after stop() resolved
      expect(stream.stop()).toBeInstanceOf(Promise); // a second stop is harmless
      await stream.stop();
    });

    it('hands iso packets over with their status, length and stride, and counts lost intervals', async () => {
      const { transport, device } = await open();
      await transport.claimInterface(0);
      await transport.setAltSetting(0, 1);
      const seen: Array<{ stride: number; count: number; lengths: number[]; lost: number; sequence: number }> = [];
      let held: CompletedTransfer | undefined;
      const stream = transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 2, packetsPerTransfer: 4, packetSize: 1024 }, (t) => {
        seen.push({ stride: t.packetStride, count: t.packetCount, lengths: Array.from(t.packetLength.subarray(0, t.packetCount)), lost: t.lostIntervals, sequence: t.sequence });
        for (let i = 0; i < t.packetCount; i++) {
          const at = i * t.packetStride;
          const counter = t.buffer[at]! | (t.buffer[at + 1]! << 8);
          expect(t.buffer[at + 10]).toBe((counter + 10) & 0xff);
        }
        if (seen.length === 5) {
          held = t; // hold this one a while; the device reports what it missed meanwhile
          device.missedNext = 16;
          return;
        }
        t.release();
      });
      await until(() => seen.length >= 12, '12 completions');
      held?.release();
      held?.release(); // twice: harmless
      await stream.stop();
      expect(seen[0]!.stride).toBe(1024);
      expect(seen[0]!.count).toBe(4);
      expect(seen[0]!.lengths.every((length) => length > 4)).toBe(true);
      expect(seen.map((s) => s.sequence)).toEqual(seen.map((_, i) => i));
      expect(seen.reduce((sum, s) => sum + s.lost, 0)).toBeGreaterThanOrEqual(16);
    });

    it('keeps transfers in flight from spare buffers while JavaScript holds completed ones', async () => {
      const { transport } = await open();
      await transport.claimInterface(0);
      await transport.setAltSetting(0, 1);
      // 16 spares of 32 KiB: 512 KiB, under MAX_SPARE_BYTES; 64 MiB + 1 transfer's worth is over it.
      await expectCode(async () => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 2, spareTransfers: 2731, packetsPerTransfer: 8, packetSize: 3072 }, () => {}), 'EINVAL');
      // Usbfs memory for at most every slot, none fewer than 0.
      for (const zeroCopyTransfers of [-1, 19, 1.5]) {
        const options = { endpoint: 0x81, type: 'iso', transfers: 2, spareTransfers: 16, zeroCopyTransfers, packetsPerTransfer: 8, packetSize: 3072 } as const;
        await expectCode(async () => transport.startStream(options, () => {}), 'EINVAL');
      }
      const held: CompletedTransfer[] = [];
      const stream = transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 2, spareTransfers: 16, packetsPerTransfer: 8, packetSize: 3072 }, (t) => {
        held.push(t);
      });
      // Nothing is released, yet every one of the 18 buffers is filled: a spare went out as each transfer came back.
      await until(() => held.length === 18, 'all 18 buffers to complete');
      expect(new Set(held.map((t) => t.slot))).toEqual(new Set(Array.from({ length: 18 }, (_, i) => i)));
      expect(held.map((t) => t.sequence)).toEqual(held.map((_, i) => i));
      expect(held.every((t) => t.status === TransferStatus.COMPLETED && t.lostIntervals === 0)).toBe(true);
      expect(stream.stats).toMatchObject({ inFlight: 0, held: 18, sparesFree: 0, sparesLow: 0 });
      // Released, they go back out: 2 in flight, the rest free again.
      for (const t of held.splice(0)) t.release();
      expect(stream.stats.inFlight).toBe(2);
      await until(() => held.length >= 4, 'completions after the release');
      for (const t of held.splice(0)) t.release();
      await stream.stop();
      expect(stream.stats).toMatchObject({ inFlight: 0, held: 0 });
    });

    it('streams bulk transfers with short completions and per-transfer timeouts', async () => {
      const { transport, device } = await open();
      await transport.claimInterface(1);
      const { transfers, onTransfer } = collect();
      const stream = transport.startStream({ endpoint: 0x82, type: 'bulk', transfers: 2, transferSize: 4096, timeoutMs: 150 }, onTransfer);
      device.pushBulk(Uint8Array.from([9, 8, 7, 6, 5]));
      device.pushBulk(new Uint8Array(4096).fill(3));
      // On a real stack a transfer's timeout can race its data: libusb then reports TIMED_OUT with the bytes
      // that did arrive (actualLength > 0). Data is data, whichever of the two statuses carries it.
      const withData = () => transfers.filter((t) => t.actualLength > 0 && (t.status === TransferStatus.COMPLETED || t.status === TransferStatus.TIMED_OUT));
      await until(() => withData().length >= 2, 'two bulk transfers with data');
      await until(() => transfers.some((t) => t.status === TransferStatus.TIMED_OUT && t.actualLength === 0), 'a bulk timeout');
      await stream.stop();
      const completed = withData();
      expect(completed[0]).toMatchObject({ actualLength: 5, first: [9, 8, 7, 6] });
      expect(completed[1]).toMatchObject({ actualLength: 4096, first: [3, 3, 3, 3] });
    });

    it('keeps one owner per interface across handles', async () => {
      const { transport, openAgain } = await open();
      await transport.claimInterface(1);
      const second = await openAgain();
      opened.push(second);
      await expectCode(second.claimInterface(1), 'EBUSY');
      await second.claimInterface(0); // another interface is free
      await transport.releaseInterface(1);
      await second.claimInterface(1);
      await expectCode(transport.claimInterface(1), 'EBUSY');
    });

    it('turns an unplug into one disconnect, NO_DEVICE completions and ENODEV afterwards', async () => {
      const { transport, device } = await open();
      await transport.claimInterface(0);
      await transport.setAltSetting(0, 1);
      let disconnects = 0;
      transport.on('disconnect', () => disconnects++);
      const statuses: number[] = [];
      const stream = transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 3, packetsPerTransfer: 8, packetSize: 3072 }, (t) => {
        statuses.push(t.status);
        t.release();
        t.release();
      });
      await until(() => statuses.length >= 5, 'some completions');
      device.unplug();
      await until(() => disconnects === 1 && statuses.includes(TransferStatus.NO_DEVICE), 'the disconnect');
      expect(transport.isDisconnected).toBe(true);
      await expectCode(transport.controlTransferIn(VENDOR_IN, 8), 'ENODEV');
      await expectCode(transport.setAltSetting(0, 0), 'ENODEV');
      await expectCode(async () => transport.startStream({ endpoint: 0x82, type: 'bulk', transfers: 1, transferSize: 512 }, () => {}), 'ENODEV');
      await stream.stop();
      await transport.close();
      await transport.close();
      expect(disconnects).toBe(1);
      await expectCode(transport.controlTransferIn(VENDOR_IN, 8), 'EBADF');
    });

    it('survives close while streaming and every call after close', async () => {
      const { transport } = await open();
      await transport.claimInterface(0);
      await transport.setAltSetting(0, 1);
      let held: CompletedTransfer | undefined;
      const stream = transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 4, packetsPerTransfer: 8, packetSize: 3072 }, (t) => {
        if (!held) held = t;
        else t.release();
      });
      await until(() => held !== undefined, 'a completion');
      await transport.close();
      expect(stream.stopped).toBe(true);
      held!.release(); // after close: harmless
      await stream.stop();
      expect(transport.isOpen).toBe(false);
      await expectCode(transport.claimInterface(0), 'EBADF');
      await expectCode(async () => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 1, packetsPerTransfer: 1, packetSize: 1024 }, () => {}), 'EBADF');
    });
  });
}
