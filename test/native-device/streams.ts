// The stream engine on a real device: iso on an alt setting, bulk, interrupt, back-pressure accounting, misuse.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { UvcError } from '../../src/errors.js';
import { openNativeDevice } from '../../src/transport/native/index.js';
import { MAX_STREAM_BYTES } from '../../src/transport/usb-transport.js';
import type { CompletedTransfer, StreamOptions, UsbStream, UsbTransport } from '../../src/transport/usb-transport.js';
import { TransferStatus, streamFailureLimit } from '../../src/transport/usb-transport.js';
import {
  commitDefaultUvcFormat,
  delay,
  endpointPlan,
  isoPlan,
  type StreamPlan,
  type TestDevice,
  until,
} from './device-under-test.js';

/** What a completion said, copied out before release (the object's views are reused by its slot). */
interface Seen {
  slot: number;
  sequence: number;
  status: number;
  actualLength: number;
  packetCount: number;
  packetSum: number;
  maxPacket: number;
  firstPacketHeaderOk: boolean;
  buffer: Uint8Array;
  lostIntervals: number;
  completedAtNs: number;
  calledAtNs: number;
}

function record(t: CompletedTransfer): Seen {
  let packetSum = 0;
  let maxPacket = 0;
  let firstPacketHeaderOk = true;
  let checkedOne = false;
  for (let i = 0; i < t.packetCount; i++) {
    const length = t.packetLength[i]!;
    packetSum += length;
    maxPacket = Math.max(maxPacket, length);
    if (length > 0 && !checkedOne) {
      // A UVC payload starts with its header length (2..length); usbip-emu sends the same shape.
      const headerLength = t.buffer[i * t.packetStride]!;
      firstPacketHeaderOk = headerLength >= 2 && headerLength <= length;
      checkedOne = true;
    }
  }
  return {
    slot: t.slot,
    sequence: t.sequence,
    status: t.status,
    actualLength: t.actualLength,
    packetCount: t.packetCount,
    packetSum,
    maxPacket,
    firstPacketHeaderOk,
    buffer: t.buffer,
    lostIntervals: t.lostIntervals,
    completedAtNs: t.completedAtNs,
    calledAtNs: Number(process.hrtime.bigint()),
  };
}

function intervalNs(speed: string, plan: StreamPlan): number {
  const frames = speed === 'low' || speed === 'full';
  const unit = frames ? 1_000_000 : 125_000;
  if (plan.endpoint.type === 'bulk') return unit;
  if (plan.endpoint.type === 'interrupt' && frames) return unit * plan.endpoint.bInterval;
  return unit * 2 ** (Math.min(Math.max(plan.endpoint.bInterval, 1), 16) - 1);
}

async function prepare(t: UsbTransport, plan: StreamPlan): Promise<void> {
  await t.claimInterface(plan.interfaceNumber);
  if (plan.uvc) await commitDefaultUvcFormat(t, plan.interfaceNumber);
  if (plan.altSetting !== 0) await t.setAltSetting(plan.interfaceNumber, plan.altSetting);
}

function isoOptions(plan: StreamPlan, transfers = 4, packets = 32): StreamOptions {
  return { endpoint: plan.endpoint.address, type: 'iso', transfers, packetsPerTransfer: packets, packetSize: plan.endpoint.bytesPerInterval };
}

function codeOfSync(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UvcError);
    return (error as UvcError).code;
  }
  return 'returned';
}

export function streams(device: TestDevice): void {
  describe('streams', () => {
    let t: UsbTransport;
    beforeEach(async () => {
      t = await openNativeDevice({ portPath: device.portPath });
    });
    afterEach(async () => {
      await t.close();
    });

    it('streams iso on an alt setting: every completion once, on views made once per slot', async () => {
      const plan = isoPlan(t.configDescriptor());
      await prepare(t, plan);
      const seen: Seen[] = [];
      const startedAtNs = Number(process.hrtime.bigint());
      const stream = t.startStream(isoOptions(plan), (x) => {
        seen.push(record(x));
        x.release();
      });
      // The first stream on a freshly served camera warms it up (JIT, first frames): a wide hang guard.
      await until(() => seen.length >= 96, '96 iso completions', 90_000);
      await stream.stop();
      const stoppedWith = seen.length;

      expect(seen.map((s) => s.sequence)).toEqual(seen.map((_, i) => i));
      expect(new Set(seen.map((s) => s.slot))).toEqual(new Set([0, 1, 2, 3]));
      for (const s of seen) {
        expect(s.status).toBe(TransferStatus.COMPLETED);
        expect(s.packetCount).toBe(32);
        expect(s.actualLength).toBe(s.packetSum);
        expect(s.maxPacket).toBeLessThanOrEqual(plan.endpoint.bytesPerInterval);
        expect(s.buffer.byteLength).toBe(32 * plan.endpoint.bytesPerInterval);
        expect(s.completedAtNs).toBeGreaterThanOrEqual(startedAtNs);
        expect(s.completedAtNs).toBeLessThanOrEqual(s.calledAtNs);
      }
      // The same memory every time a slot comes back; a different one per slot.
      const bySlot = new Map<number, Uint8Array>();
      for (const s of seen) {
        if (!bySlot.has(s.slot)) bySlot.set(s.slot, s.buffer);
        expect(s.buffer).toBe(bySlot.get(s.slot));
      }
      expect(new Set(bySlot.values()).size).toBe(4);
      expect(seen.some((s) => s.actualLength > 0)).toBe(true);
      // Only a UVC streaming interface promises payload headers (a vendor device's packets are its own).
      if (plan.uvc) expect(seen.filter((s) => s.actualLength > 0).every((s) => s.firstPacketHeaderOk)).toBe(true);

      await delay(100);
      expect(seen.length).toBe(stoppedWith);
      expect(stream.stopped).toBe(true);
      expect(stream.stats).toMatchObject({ inFlight: 0, held: 0 });
      expect(stream.stats.completed).toBe(seen.length);
    });

    it("wakes JavaScript per frame with wakeOn 'uvc-frame': every completion still once and in order", async (context) => {
      const plan = isoPlan(t.configDescriptor());
      if (!plan.uvc) context.skip('the device is not a UVC camera: its packets carry no payload headers');
      await prepare(t, plan);
      // Per completion: a payload header with EOF or ERR, or a FID toggle where no EOF ended the frame before (a
      // frame's end wakes JavaScript once, not again at the next frame's first payload).
      const edges: boolean[] = [];
      const sequences: number[] = [];
      const batchEnds: number[] = []; // the index of each dispatch's last completion
      let fid = -1;
      let fidEnded = false;
      let inBatch = false;
      // A backstop longer than the test: only frame edges, failures and low spares may wake JavaScript.
      const options = { ...isoOptions(plan), spareTransfers: 60, wakeOn: 'uvc-frame', wakeAfterMs: 1000 } as const;
      const stream = t.startStream(options, (x) => {
        let edge = x.status !== TransferStatus.COMPLETED;
        for (let i = 0; i < x.packetCount; i++) {
          const length = x.packetLength[i]!;
          const at = i * x.packetStride;
          if (x.packetStatus[i] !== TransferStatus.COMPLETED) edge = true;
          if (length < 2 || x.buffer[at]! < 2 || x.buffer[at]! > length) continue;
          const flags = x.buffer[at + 1]!;
          if ((flags & 0x42) !== 0) edge = true;
          if ((flags & 1) !== fid) {
            if (fid >= 0 && !fidEnded) edge = true;
            fidEnded = false;
          }
          fid = flags & 1;
          if ((flags & 0x02) !== 0) fidEnded = true;
        }
        edges.push(edge);
        sequences.push(x.sequence);
        x.release();
        // A dispatch runs its completions in one go; microtasks run only after it returned.
        if (!inBatch) {
          inBatch = true;
          queueMicrotask(() => {
            inBatch = false;
            batchEnds.push(sequences.length - 1);
          });
        }
      });
      await until(() => edges.filter(Boolean).length >= 30, '30 frame edges', 90_000);
      await stream.stop();
      const { completed, wakes } = stream.stats;
      expect(sequences).toEqual(sequences.map((_, i) => i));
      expect(completed).toBe(sequences.length);
      // Several transfers per frame, one wake-up per frame edge; a few more only if JavaScript fell behind by half
      // the spares (the engine then tells at once rather than let the bus wait).
      const edgeCount = edges.filter(Boolean).length;
      expect(edgeCount).toBeLessThan(completed);
      expect(wakes).toBeGreaterThan(0);
      expect(wakes).toBeLessThanOrEqual(edgeCount + 5);
      const batchesEndingAtAnEdge = batchEnds.filter((i) => edges[i]).length;
      expect(batchesEndingAtAnEdge, `dispatches ending at an edge: ${batchesEndingAtAnEdge} of ${batchEnds.length}`).toBeGreaterThanOrEqual(batchEnds.length - 5);
    });

    it('hands out the usbfs buffers first: after a stall, the spares in plain memory go back to rest', async (context) => {
      const plan = isoPlan(t.configDescriptor());
      await prepare(t, plan);
      const transfers = 4;
      const options = { ...isoOptions(plan, transfers), spareTransfers: 40, zeroCopyTransfers: transfers + 8 };
      const nothing = () => {};
      expect(codeOfSync(() => t.startStream({ ...options, zeroCopyTransfers: -1 }, nothing))).toBe('EINVAL');
      expect(codeOfSync(() => t.startStream({ ...options, zeroCopyTransfers: transfers + 41 }, nothing))).toBe('EINVAL');
      const held: CompletedTransfer[] = [];
      let holding = 0; // completions still to hold
      let completions = 0;
      const stream = t.startStream(options, (x) => {
        completions++;
        if (holding > 0) {
          holding--;
          held.push(x);
          return;
        }
        x.release();
      });
      if (stream.stats.zeroCopy !== true) {
        await stream.stop();
        context.skip('no zero copy on this machine (not x86, UVC_USBFS_ZERO_COPY=0, or usbfs_memory_mb short)');
      }
      expect(stream.stats.zeroCopyTransfers).toBe(transfers + 8);
      // A stall: JavaScript holds 30 completions, more than the 8 usbfs buffers beyond those in flight, so the
      // engine goes on with spares in plain memory (usbfs copies those).
      holding = 30;
      await until(() => held.length === 30, '30 completions held', 60_000);
      for (const x of held.splice(0)) x.release(); // oldest first: the last released are spares in plain memory
      const copiedAfterStall = stream.stats.copiedTransfers!;
      expect(copiedAfterStall).toBeGreaterThan(0);
      const from = completions;
      await until(() => completions >= from + 200, '200 more completions', 60_000);
      await stream.stop();
      // Released at once, what circulates (4 in flight, 1 in hand) fits in the usbfs buffers, so the spares rest
      // again; one goes out only while a pause of this thread (GC, an emulator) holds 8 completions. Handed out
      // last-freed-first regardless, the spares released last would circulate from here on: about 200 copies.
      const steady = stream.stats.copiedTransfers! - copiedAfterStall;
      expect(steady, `${steady} of 200 steady completions copied`).toBeLessThan(50);
    });

    it('counts the bus intervals lost while JavaScript held every transfer', async () => {
      const plan = isoPlan(t.configDescriptor());
      await prepare(t, plan);
      const interval = intervalNs(t.info.speed, plan);
      const held: CompletedTransfer[] = [];
      const heldAt: number[] = [];
      const seen: Seen[] = [];
      let holding = false;
      const stream = t.startStream(isoOptions(plan), (x) => {
        seen.push(record(x));
        if (holding && held.length < 4) {
          held.push(x);
          heldAt.push(x.completedAtNs);
          return;
        }
        x.release();
      });
      await until(() => seen.length >= 8, 'iso completions');
      holding = true;
      await until(() => held.length === 4, 'all four transfers held');
      await delay(60);
      const emptySince = Math.max(...heldAt);
      const before = Number(process.hrtime.bigint());
      const firstReleased = held[0]!.slot;
      const seenBefore = seen.length;
      for (const x of held) x.release();
      const after = Number(process.hrtime.bigint());
      holding = false;
      await until(() => seen.slice(seenBefore).some((s) => s.slot === firstReleased), 'the first released transfer to come back');
      const next = seen.slice(seenBefore).find((s) => s.slot === firstReleased)!;
      // The first transfer resubmitted after the gap reports the intervals that passed with none in flight.
      expect(next.lostIntervals).toBeGreaterThanOrEqual(Math.floor((before - emptySince) / interval));
      expect(next.lostIntervals).toBeLessThanOrEqual(Math.floor((after - emptySince) / interval));
      expect(next.lostIntervals).toBeGreaterThan(0);
      const reported = seen.reduce((sum, s) => sum + s.lostIntervals, 0);
      await stream.stop();
      expect(stream.stats.lostIntervals).toBeGreaterThanOrEqual(reported);
    });

    it('streams bulk: transfers complete (with data, or by their timeout) and are resubmitted', async (context) => {
      const plan = endpointPlan(t.configDescriptor(), 'bulk');
      if (plan === undefined) {
        if (process.env.UVC_TEST_NO_BULK === '1') context.skip('the device has no bulk IN endpoint (UVC_TEST_NO_BULK=1)');
        throw new Error('the test device has no bulk IN endpoint; set UVC_TEST_NO_BULK=1 if that is expected');
      }
      await prepare(t, plan);
      const seen: Seen[] = [];
      const stream = t.startStream(
        { endpoint: plan.endpoint.address, type: 'bulk', transfers: 3, transferSize: 16384, timeoutMs: 500 },
        (x) => {
          seen.push(record(x));
          expect(x.packetStatus).toHaveLength(0);
          x.release();
        },
      );
      await until(() => seen.length >= 30, '30 bulk completions');
      await stream.stop();
      for (const s of seen) {
        expect([TransferStatus.COMPLETED, TransferStatus.TIMED_OUT]).toContain(s.status);
        expect(s.actualLength).toBeLessThanOrEqual(16384);
        expect(s.buffer.byteLength).toBe(16384);
        expect(s.packetCount).toBe(0);
      }
      expect(seen.map((s) => s.sequence)).toEqual(seen.map((_, i) => i));
    });

    // Second case: JavaScript is held up inside the 14th completion for 600 ms (6 back-offs of at most 100 ms), so the
    // 15th failure waits, ready, while the 16th makes the engine give up: the 15th must still be told, before it.
    it.for([
      { stallAt: 0, name: 'handled at once' },
      { stallAt: 14, name: 'JavaScript late for the last ones' },
    ])('gives up on a stream whose transfers fail at once: backs off, then one final failure, then stopped ($name)', async ({ stallAt }, context) => {
      const plan = endpointPlan(t.configDescriptor(), 'bulk');
      if (plan === undefined) {
        if (process.env.UVC_TEST_NO_BULK === '1') context.skip('the device has no bulk IN endpoint (UVC_TEST_NO_BULK=1)');
        throw new Error('the test device has no bulk IN endpoint; set UVC_TEST_NO_BULK=1 if that is expected');
      }
      await prepare(t, plan);
      // SET_FEATURE(ENDPOINT_HALT): the endpoint answers STALL to every transfer until the halt is cleared.
      await t.controlTransferOut({ bmRequestType: 0x02, bRequest: 0x03, wValue: 0, wIndex: plan.endpoint.address }, new Uint8Array(0));
      const seen: { status: number; failure: string | undefined; atNs: number }[] = [];
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const stream: UsbStream = t.startStream(
        { endpoint: plan.endpoint.address, type: 'bulk', transfers: 2, spareTransfers: 2, transferSize: 512, timeoutMs: 2000 },
        (x) => {
          seen.push({ status: x.status, failure: stream.failure?.code, atNs: x.completedAtNs });
          if (seen.length === stallAt) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600);
          x.release();
        },
      );
      try {
        await until(() => stream.failure !== undefined, 'the stream to give up');
        await stream.stop();
      } finally {
        clearInterval(timer);
        await t.clearHalt(plan.endpoint.address);
      }
      expect(seen).toHaveLength(streamFailureLimit(2));
      expect(seen.every((s) => s.status === TransferStatus.STALL)).toBe(true);
      expect(seen.slice(0, -1).every((s) => s.failure === undefined)).toBe(true);
      expect(seen.at(-1)!.failure).toBe('EPIPE');
      expect(stream.failure!.message).toMatch(/gave up/);
      expect(stream.stopped).toBe(true);
      expect(stream.stats).toMatchObject({ inFlight: 0, held: 0 });
      // Backed off, not spun: the failures are spread over the growing delays (1, 2, 4 … ms) and the event loop
      // ran timers meanwhile.
      const spanMs = (seen.at(-1)!.atNs - seen[0]!.atNs) / 1e6;
      expect(spanMs).toBeGreaterThanOrEqual(1 + 2 + 4 + 8 + 16 + 32 + 64);
      expect(ticks).toBeGreaterThan(0);
    });

    it('streams interrupt endpoints too', async (context) => {
      const plan = endpointPlan(t.configDescriptor(), 'interrupt');
      if (plan === undefined) context.skip('the device has no interrupt IN endpoint');
      await prepare(t, plan!);
      const seen: Seen[] = [];
      const stream = t.startStream(
        { endpoint: plan!.endpoint.address, type: 'interrupt', transfers: 2, transferSize: plan!.endpoint.bytesPerInterval, timeoutMs: 300 },
        (x) => {
          seen.push(record(x));
          x.release();
        },
      );
      await until(() => seen.length >= 5, '5 interrupt completions');
      await stream.stop();
      for (const s of seen) expect([TransferStatus.COMPLETED, TransferStatus.TIMED_OUT]).toContain(s.status);
    });

    it('refuses streams that cannot work, with clear errors', async () => {
      const plan = isoPlan(t.configDescriptor());
      const options = isoOptions(plan);
      const nothing = () => {};
      expect(codeOfSync(() => t.startStream(options, nothing))).toBe('EINVAL'); // interface not claimed
      await t.claimInterface(plan.interfaceNumber);
      if (plan.altSetting !== 0) {
        expect(() => t.startStream(options, nothing)).toThrow(/select alt setting/); // still on alt 0
        await t.setAltSetting(plan.interfaceNumber, plan.altSetting);
      }
      expect(codeOfSync(() => t.startStream({ ...options, type: 'bulk', transferSize: 512 }, nothing))).toBe('EINVAL');
      expect(codeOfSync(() => t.startStream({ ...options, endpoint: 0x01 }, nothing))).toBe('EINVAL');
      expect(codeOfSync(() => t.startStream({ ...options, endpoint: 0x8f }, nothing))).toBe('EINVAL');
      expect(codeOfSync(() => t.startStream({ ...options, transfers: 0 }, nothing))).toBe('EINVAL');
      expect(codeOfSync(() => t.startStream({ ...options, packetsPerTransfer: 129 }, nothing))).toBe('EINVAL');
      expect(() => t.startStream({ ...options, transfers: 64, packetsPerTransfer: 128 }, nothing)).toThrow(`limit is ${MAX_STREAM_BYTES}`);
      expect(codeOfSync(() => t.startStream({ ...options, type: 'video' as 'iso' }, nothing))).toBe('EINVAL');

      const stream = t.startStream(options, (x) => x.release());
      expect(codeOfSync(() => t.startStream(options, nothing))).toBe('EBUSY');
      await expect(t.setAltSetting(plan.interfaceNumber, 0)).rejects.toMatchObject({ code: 'EBUSY' });
      await expect(t.releaseInterface(plan.interfaceNumber)).rejects.toMatchObject({ code: 'EBUSY' });
      await stream.stop();
      const again = t.startStream(options, (x) => x.release());
      await again.stop();
      await t.releaseInterface(plan.interfaceNumber);
    });

    it('takes stop twice, release twice and release after stop in its stride', async () => {
      const plan = isoPlan(t.configDescriptor());
      await prepare(t, plan);
      const held: CompletedTransfer[] = [];
      let calls = 0;
      const stream: UsbStream = t.startStream(isoOptions(plan), (x) => {
        calls++;
        if (held.length < 2) {
          held.push(x);
          return;
        }
        x.release();
        x.release();
      });
      await until(() => held.length === 2 && calls >= 10, 'completions');
      held[0]!.release();
      held[0]!.release();
      const first = stream.stop();
      expect(stream.stop()).toBe(first);
      await first;
      const after = calls;
      held[1]!.release();
      held[1]!.release();
      await stream.stop();
      await delay(50);
      expect(calls).toBe(after);
      expect(stream.stats).toMatchObject({ inFlight: 0, held: 0 });
    });

    it('closes while streaming: stop settles, nothing is delivered after close, the interface is free again', async () => {
      const plan = isoPlan(t.configDescriptor());
      await prepare(t, plan);
      let calls = 0;
      const stream = t.startStream(isoOptions(plan), (x) => {
        calls++;
        x.release();
      });
      await until(() => calls >= 10, 'completions');
      await t.close();
      const atClose = calls;
      expect(stream.stopped).toBe(true);
      await stream.stop();
      await delay(100);
      expect(calls).toBe(atClose);
      expect(stream.stats.inFlight).toBe(0);
      // Another handle can claim what the closed one had.
      const other = await openNativeDevice({ portPath: device.portPath });
      try {
        await other.claimInterface(plan.interfaceNumber);
      } finally {
        await other.close();
      }
    });

    it('clears the halt of a streaming endpoint when asked (no stream running)', async () => {
      const plan = isoPlan(t.configDescriptor());
      await prepare(t, plan);
      await t.clearHalt(plan.endpoint.address);
    });
  });
}
