import { describe, expect, it } from 'vitest';
import { isUvcError } from '../../src/errors.js';
import {
  DEFAULT_MAX_IN_FLIGHT_BYTES,
  MAX_ISO_PACKETS_PER_TRANSFER,
  bulkTransferSize,
  planTransfers,
  streamOptionsFor,
  wakeAfterMsFor,
  zeroCopyTransfersFor,
} from '../../src/stream/transfer-sizing.js';
import { MAX_SPARE_BYTES } from '../../src/transport/usb-transport.js';

const USBFS_LIMIT = 16 * 1024 * 1024;

describe('iso transfer sizing', () => {
  it('high speed: 5 transfers of 32 microframes, 20 ms in flight, like uvcvideo', () => {
    const plan = planTransfers({ transferType: 'iso', speed: 'high', bytesPerInterval: 3072, dwMaxPayloadTransferSize: 3072, dwMaxVideoFrameSize: 1280 * 720 * 2 });
    expect(plan).toMatchObject({ transfers: 5, packetsPerTransfer: 32, packetSize: 3072, transferSize: 32 * 3072, intervalNs: 125_000 });
    expect(plan.inFlightNs).toBe(20_000_000);
    expect(streamOptionsFor(0x81, plan)).toEqual({ endpoint: 0x81, type: 'iso', transfers: 5, packetsPerTransfer: 32, packetSize: 3072, wakeOn: 'uvc-frame', wakeAfterMs: 50 });
  });

  it('keeps more time in flight with more transfers, not longer ones, so a frame waits at most 4 ms for its transfer', () => {
    const plan = planTransfers({ transferType: 'iso', speed: 'high', bytesPerInterval: 3072, dwMaxPayloadTransferSize: 3072, dwMaxVideoFrameSize: 1280 * 720 * 2, targetInFlightMs: 100 });
    expect(plan).toMatchObject({ transfers: 25, packetsPerTransfer: 32, inFlightNs: 100_000_000 });
    const full = planTransfers({ transferType: 'iso', speed: 'full', bytesPerInterval: 1023, dwMaxPayloadTransferSize: 1023, dwMaxVideoFrameSize: 1, targetInFlightMs: 100 });
    expect(full).toMatchObject({ transfers: 25, packetsPerTransfer: 4, inFlightNs: 100_000_000 });
    // Past 32 transfers, the transfers grow instead.
    const long = planTransfers({ transferType: 'iso', speed: 'high', bytesPerInterval: 1024, dwMaxPayloadTransferSize: 1024, dwMaxVideoFrameSize: 1, targetInFlightMs: 200 });
    expect(long).toMatchObject({ transfers: 32, packetsPerTransfer: 50, inFlightNs: 200_000_000 });
    // A short time in flight: still 5 transfers, shorter ones.
    const short = planTransfers({ transferType: 'iso', speed: 'high', bytesPerInterval: 1024, dwMaxPayloadTransferSize: 1024, dwMaxVideoFrameSize: 1, targetInFlightMs: 5 });
    expect(short).toMatchObject({ transfers: 5, packetsPerTransfer: 8, inFlightNs: 5_000_000 });
  });

  it('full speed: 1 ms frames, so 4 packets per transfer cover the same 20 ms', () => {
    const plan = planTransfers({ transferType: 'iso', speed: 'full', bytesPerInterval: 1023, dwMaxPayloadTransferSize: 1023, dwMaxVideoFrameSize: 176 * 144 * 2 });
    expect(plan).toMatchObject({ transfers: 5, packetsPerTransfer: 4, intervalNs: 1_000_000, inFlightNs: 20_000_000 });
  });

  it('honours bInterval', () => {
    const plan = planTransfers({ transferType: 'iso', speed: 'high', bInterval: 2, bytesPerInterval: 1024, dwMaxPayloadTransferSize: 1024, dwMaxVideoFrameSize: 1 });
    expect(plan).toMatchObject({ intervalNs: 250_000, packetsPerTransfer: 16, inFlightNs: 20_000_000 });
  });

  it('SuperSpeed at 48 KiB per microframe stays under the memory cap, far from the usbfs limit', () => {
    const plan = planTransfers({ transferType: 'iso', speed: 'super', bytesPerInterval: 49_152, dwMaxPayloadTransferSize: 49_152, dwMaxVideoFrameSize: 3840 * 2160 * 2 });
    expect(plan.inFlightBytes).toBeLessThanOrEqual(DEFAULT_MAX_IN_FLIGHT_BYTES);
    expect(plan.inFlightBytes).toBeLessThan(USBFS_LIMIT / 2);
    expect(plan.packetsPerTransfer).toBeLessThanOrEqual(MAX_ISO_PACKETS_PER_TRANSFER);
    expect(plan.inFlightNs).toBeGreaterThanOrEqual(15_000_000);
  });

  it('takes overrides and refuses nonsense with EINVAL', () => {
    const plan = planTransfers({ transferType: 'iso', speed: 'high', bytesPerInterval: 1024, transfers: 3, packetsPerTransfer: 8, dwMaxPayloadTransferSize: 1024, dwMaxVideoFrameSize: 1 });
    expect(plan).toMatchObject({ transfers: 3, packetsPerTransfer: 8 });
    for (const bad of [{ bytesPerInterval: 0 }, { bytesPerInterval: undefined }, { bInterval: 17 }, { transfers: 0 }]) {
      let error: unknown;
      try {
        planTransfers({ transferType: 'iso', speed: 'high', bytesPerInterval: 1024, dwMaxPayloadTransferSize: 1, dwMaxVideoFrameSize: 1, ...bad });
      } catch (e) {
        error = e;
      }
      expect(isUvcError(error, 'EINVAL'), JSON.stringify(bad)).toBe(true);
    }
  });
});

describe('bulk transfer sizing', () => {
  it('a payload that fits is one transfer (rounded up to whole packets: its short last packet ends the transfer)', () => {
    expect(bulkTransferSize(16_384, 512, 512 * 1024)).toBe(16_384);
    expect(bulkTransferSize(1000, 512, 512 * 1024)).toBe(1024);
  });

  it('a large payload that is a whole number of packets is cut into transfers that divide it exactly', () => {
    const payload = 3 * 1024 * 1024; // 6144 packets of 512
    const size = bulkTransferSize(payload, 512, 512 * 1024);
    expect(size % 512).toBe(0);
    expect(payload % size).toBe(0);
    expect(size).toBeLessThanOrEqual(512 * 1024);
    expect(size).toBe(512 * 1024);
    const odd = 512 * 1031; // a prime number of packets, over the cap: only single packets divide it
    expect(bulkTransferSize(odd, 512, 512 * 1024)).toBe(512);
  });

  it('a large payload that ends with a short packet may use any whole number of packets', () => {
    expect(bulkTransferSize(2 * 1024 * 1024 + 100, 512, 512 * 1024)).toBe(512 * 1024);
  });

  it('plans enough transfers for about 20 ms at the bus rate, at least 4, within the memory cap', () => {
    const plan = planTransfers({ transferType: 'bulk', speed: 'high', dwMaxPayloadTransferSize: 1280 * 720 * 2, dwMaxVideoFrameSize: 1280 * 720 * 2 });
    expect(plan.transferSize % 512).toBe(0);
    expect((1280 * 720 * 2) % plan.transferSize).toBe(0);
    expect(plan.transfers).toBeGreaterThanOrEqual(4);
    expect(plan.inFlightBytes).toBeLessThanOrEqual(DEFAULT_MAX_IN_FLIGHT_BYTES);
    expect(streamOptionsFor(0x83, plan)).toEqual({ endpoint: 0x83, type: 'bulk', transfers: plan.transfers, transferSize: plan.transferSize, wakeOn: 'uvc-frame', wakeAfterMs: 50 });
    const small = planTransfers({ transferType: 'bulk', speed: 'high', dwMaxPayloadTransferSize: 16_384, dwMaxVideoFrameSize: 1 });
    expect(small).toMatchObject({ transferSize: 16_384, transfers: 32 });
  });

  it('refuses a transfer size that would straddle payloads', () => {
    let error: unknown;
    try {
      planTransfers({ transferType: 'bulk', speed: 'high', dwMaxPayloadTransferSize: 3 * 16_384, transferSize: 32_768, dwMaxVideoFrameSize: 1 });
    } catch (e) {
      error = e;
    }
    expect(isUvcError(error, 'EINVAL')).toBe(true);
  });
});

describe('waking JavaScript per frame (wakeOn)', () => {
  it('asks the transport for per-frame wake-ups, with a backstop of a frame and a half within 10-100 ms', () => {
    const plan = planTransfers({ transferType: 'iso', speed: 'high', bytesPerInterval: 3072, dwMaxPayloadTransferSize: 3072, dwMaxVideoFrameSize: 640 * 480 * 2 });
    expect(streamOptionsFor(0x81, plan, 33_333_300)).toMatchObject({ wakeOn: 'uvc-frame', wakeAfterMs: 50 });
    expect(wakeAfterMsFor(16_666_600)).toBe(25); // 60 fps
    expect(wakeAfterMsFor(1_000_000)).toBe(10); // 1000 fps: not below 10 ms
    expect(wakeAfterMsFor(1_000_000_000)).toBe(100); // 1 fps: a slow camera's odd frame end waits 100 ms at most
    expect(wakeAfterMsFor(undefined)).toBe(50);
    expect(wakeAfterMsFor(0)).toBe(50);
  });
});

describe('spare transfers (stallToleranceMs)', () => {
  const HS_720P = { transferType: 'iso' as const, speed: 'high' as const, bytesPerInterval: 3072, dwMaxPayloadTransferSize: 3072, dwMaxVideoFrameSize: 1280 * 720 * 2 };

  it('none unless asked for', () => {
    expect(planTransfers(HS_720P)).toMatchObject({ spareTransfers: 0, spareNs: 0 });
  });

  it('covers the stall budget with spares alone, in whole transfers, beside those in flight', () => {
    const plan = planTransfers({ ...HS_720P, targetInFlightMs: 100, stallToleranceMs: 250 });
    // 4 ms transfers: 63 spares cover 252 ms; 25 stay in flight (100 ms), within MAX_STREAM_BYTES as before.
    expect(plan).toMatchObject({ transfers: 25, packetsPerTransfer: 32, spareTransfers: 63, spareNs: 252_000_000 });
    expect(plan.spareTransfers * plan.transferSize).toBe(63 * 98_304);
    // usbfs memory (zero copy) for the 25 in flight and twice what a wake may hold (50 ms: 13 transfers, and 2 more).
    expect(streamOptionsFor(0x81, plan, 33_333_300)).toEqual({
      endpoint: 0x81,
      type: 'iso',
      transfers: 25,
      spareTransfers: 63,
      zeroCopyTransfers: 55,
      packetsPerTransfer: 32,
      packetSize: 3072,
      wakeOn: 'uvc-frame',
      wakeAfterMs: 50,
    });
    const bulk = planTransfers({ transferType: 'bulk', speed: 'high', dwMaxPayloadTransferSize: 1280 * 720 * 2, dwMaxVideoFrameSize: 1280 * 720 * 2, stallToleranceMs: 250 });
    expect(bulk.spareNs).toBeGreaterThanOrEqual(250_000_000);
    expect(streamOptionsFor(0x83, bulk)).toMatchObject({ spareTransfers: bulk.spareTransfers });
  });

  it('gives usbfs memory to what circulates and a pause as long, not to the spares; to all when spares are few', () => {
    const plan = planTransfers({ ...HS_720P, targetInFlightMs: 20, stallToleranceMs: 250 });
    expect(plan).toMatchObject({ transfers: 5, spareTransfers: 63 });
    // 30 fps: wakes at most 50 ms apart, 13 transfers of 4 ms (and 2 in hand), twice.
    expect(zeroCopyTransfersFor(plan, wakeAfterMsFor(33_333_300))).toBe(5 + 2 * (13 + 2));
    expect(streamOptionsFor(0x81, plan, 33_333_300).zeroCopyTransfers).toBe(35);
    // 15 fps: 100 ms, 25 transfers: 5 + 54 of the 68 slots.
    expect(streamOptionsFor(0x81, plan, 66_666_600).zeroCopyTransfers).toBe(59);
    const few = planTransfers({ ...HS_720P, targetInFlightMs: 20, stallToleranceMs: 20 });
    expect(zeroCopyTransfersFor(few, 50)).toBe(few.transfers + few.spareTransfers);
    expect(streamOptionsFor(0x81, planTransfers(HS_720P)).zeroCopyTransfers).toBeUndefined(); // no spares: all slots
  });

  it('caps spares at MAX_SPARE_BYTES: a SuperSpeed stream gets less tolerance than asked, and says how much', () => {
    const plan = planTransfers({ transferType: 'iso', speed: 'super', bytesPerInterval: 49152, dwMaxPayloadTransferSize: 49152, dwMaxVideoFrameSize: 1920 * 1080 * 2, stallToleranceMs: 250 });
    expect(plan.spareTransfers * plan.transferSize).toBeLessThanOrEqual(MAX_SPARE_BYTES);
    expect(plan.spareTransfers).toBe(Math.floor(MAX_SPARE_BYTES / plan.transferSize));
    expect(plan.spareNs).toBeLessThan(250_000_000);
  });

  it('refuses a negative or non-numeric budget', () => {
    for (const bad of [-1, Number.NaN, Infinity]) {
      let code = '';
      try {
        planTransfers({ ...HS_720P, stallToleranceMs: bad });
      } catch (error) {
        code = isUvcError(error) ? error.code : 'not a UvcError';
      }
      expect(code).toBe('EINVAL');
    }
  });
});
