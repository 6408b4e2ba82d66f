// The TypeScript half of the native transport, over a stand-in for the addon's objects: what the driver above
// relies on (errors, disconnect exactly once, close semantics, call order, CompletedTransfer) regardless of USB.
import { describe, expect, it } from 'vitest';

import { UvcError } from '../../src/errors.js';
import { NativeTransport } from '../../src/transport/native/index.js';
import type { CompletedTransfer } from '../../src/transport/usb-transport.js';
import { TransferStatus } from '../../src/transport/usb-transport.js';
import { FakeAddonDevice, nativeError } from './fake-addon-device.js';

const CONFIG = Uint8Array.from([9, 2, 9, 0, 0, 1, 0, 0x80, 50]);
const GET_VENDOR = { bmRequestType: 0xc0, bRequest: 1, wValue: 0, wIndex: 0 };
const SET_VENDOR = { bmRequestType: 0x40, bRequest: 2, wValue: 0, wIndex: 0 };

function setup() {
  const device = new FakeAddonDevice();
  const transport = new NativeTransport(device, CONFIG);
  let disconnects = 0;
  transport.on('disconnect', () => disconnects++);
  return { device, transport, disconnects: () => disconnects };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UvcError);
    return (error as UvcError).code;
  }
  return 'resolved';
}

function syncCodeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UvcError);
    return (error as UvcError).code;
  }
  return 'returned';
}

describe('NativeTransport', () => {
  it('describes the device and hands out copies of its descriptors', () => {
    const { transport } = setup();
    expect(transport.kind).toBe('native');
    expect(transport.info).toEqual({ busNumber: 3, deviceAddress: 7, portPath: '3-1.4', vendorId: 0x1209, productId: 1, speed: 'high' });
    const descriptor = transport.deviceDescriptor();
    expect(descriptor).toHaveLength(18);
    descriptor[0] = 0;
    expect(transport.deviceDescriptor()[0]).toBe(18);
    const config = transport.configDescriptor();
    config[1] = 0;
    expect(transport.configDescriptor()).toEqual(CONFIG);
  });

  it('checks the direction of control transfers', async () => {
    const { transport } = setup();
    expect(await codeOf(transport.controlTransferIn(SET_VENDOR, 4))).toBe('EINVAL');
    expect(await codeOf(transport.controlTransferOut(GET_VENDOR, new Uint8Array(1)))).toBe('EINVAL');
  });

  it('maps native errors to UvcErrors with their code and libusb name', async () => {
    const { device, transport } = setup();
    device.control = () => Promise.reject(Object.assign(nativeError('EPIPE', 'stalled'), { libusbError: 'LIBUSB_ERROR_PIPE' }));
    const error = await transport.controlTransferIn(GET_VENDOR, 4).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UvcError);
    expect(error).toMatchObject({ code: 'EPIPE', details: { libusbError: 'LIBUSB_ERROR_PIPE' } });
    device.control = () => Promise.reject(new Error('no code at all'));
    expect(await codeOf(transport.controlTransferIn(GET_VENDOR, 4))).toBe('EIO');
  });

  it('emits disconnect exactly once, then fails every call with ENODEV but still closes', async () => {
    const { device, transport, disconnects } = setup();
    device.control = () => Promise.reject(nativeError('ENODEV', 'gone'));
    expect(await codeOf(transport.controlTransferIn(GET_VENDOR, 1))).toBe('ENODEV');
    device.unplug();
    expect(await codeOf(transport.controlTransferIn(GET_VENDOR, 1))).toBe('ENODEV');
    expect(disconnects()).toBe(1);
    expect(transport.isDisconnected).toBe(true);
    expect(await codeOf(transport.claimInterface(1))).toBe('ENODEV');
    expect(await codeOf(transport.getStringDescriptor(1))).toBe('ENODEV');
    expect(syncCodeOf(() => transport.startStream({ endpoint: 0x81, type: 'bulk', transfers: 1, transferSize: 64 }, () => {}))).toBe('ENODEV');
    await transport.close();
    expect(transport.isOpen).toBe(false);
    expect(device.calls.at(-1)).toBe('close');
    expect(disconnects()).toBe(1);
  });

  it('emits disconnect when the addon reports it first, once', () => {
    const { device, transport, disconnects } = setup();
    device.unplug();
    device.ondisconnect?.();
    expect(disconnects()).toBe(1);
    expect(transport.isDisconnected).toBe(true);
  });

  it('runs blocking operations one after the other, in call order', async () => {
    const { device, transport } = setup();
    const gates = new Map<string, () => void>();
    device.blocking = (name) => new Promise<void>((resolve) => gates.set(name, resolve));
    const claim = transport.claimInterface(1);
    const alt = transport.setAltSetting(1, 2);
    const halt = transport.clearHalt(0x81);
    await new Promise((r) => setTimeout(r, 10));
    expect(device.calls).toEqual(['start claim 1']);
    gates.get('claim 1')!();
    await claim;
    await new Promise((r) => setTimeout(r, 10));
    expect(device.calls).toEqual(['start claim 1', 'end claim 1', 'start alt 1 2']);
    gates.get('alt 1 2')!();
    await alt;
    await new Promise((r) => setTimeout(r, 10));
    gates.get('halt 81')!();
    await halt;
    expect(device.calls).toEqual(['start claim 1', 'end claim 1', 'start alt 1 2', 'end alt 1 2', 'start halt 81', 'end halt 81']);
  });

  it('keeps the queue going after a failed operation', async () => {
    const { device, transport } = setup();
    device.blocking = (name) => (name === 'claim 1' ? Promise.reject(nativeError('EBUSY', 'busy')) : Promise.resolve());
    const claim = transport.claimInterface(1);
    const alt = transport.setAltSetting(0, 1);
    expect(await codeOf(claim)).toBe('EBUSY');
    await expect(alt).resolves.toBeUndefined();
  });

  it('makes close idempotent, stops streams before closing, and refuses calls afterwards', async () => {
    const { device, transport } = setup();
    const stream = transport.startStream({ endpoint: 0x82, type: 'bulk', transfers: 2, transferSize: 512 }, () => {});
    const first = transport.close();
    const second = transport.close();
    expect(second).toBe(first);
    expect(transport.isOpen).toBe(false);
    await first;
    expect(stream.stopped).toBe(true);
    expect(device.streams[0]!.stopCalls).toBe(1);
    expect(device.calls.filter((c) => c === 'close')).toHaveLength(1);
    expect(await codeOf(transport.controlTransferIn(GET_VENDOR, 1))).toBe('EBADF');
    expect(await codeOf(transport.claimInterface(0))).toBe('EBADF');
    expect(await codeOf(transport.releaseInterface(0))).toBe('EBADF');
    expect(syncCodeOf(() => transport.startStream({ endpoint: 0x82, type: 'bulk', transfers: 1, transferSize: 8 }, () => {}))).toBe('EBADF');
  });

  it('closes the device without waiting for its streams to stop, and settles once they did', async () => {
    // A stream whose transfers never come back must not block close(): the addon's close gives up on them after
    // its drain bound and settles their stop() promises itself.
    const { device, transport } = setup();
    const stream = transport.startStream({ endpoint: 0x82, type: 'bulk', transfers: 2, transferSize: 512 }, () => {});
    const raw = device.streams[0]!;
    raw.holdStop = true;
    device.onClose = () => raw.settleStop();
    let closed = false;
    const closing = transport.close().then(() => (closed = true));
    const stopped = stream.stop();
    await new Promise((r) => setTimeout(r, 10));
    expect(device.calls).toContain('close');
    await closing;
    expect(closed).toBe(true);
    await expect(stopped).resolves.toBeUndefined();
  });

  it('waits for queued operations before closing', async () => {
    const { device, transport } = setup();
    let open!: () => void;
    device.blocking = () => new Promise<void>((resolve) => (open = resolve));
    const claim = transport.claimInterface(0);
    const closed = transport.close();
    await new Promise((r) => setTimeout(r, 10));
    expect(device.calls).toEqual(['start claim 0']);
    open();
    await Promise.all([claim, closed]);
    expect(device.calls).toEqual(['start claim 0', 'end claim 0', 'close']);
  });

  it('reads string descriptors in the device language, caching the language', async () => {
    const { device, transport } = setup();
    device.control = (_rt, _r, wValue, wIndex) => {
      if (wValue === 0x0300) return Promise.resolve(Uint8Array.from([4, 3, 0x07, 0x04]));
      expect(wIndex).toBe(0x0407);
      const text = Buffer.from('Kamera ✓', 'utf16le');
      return Promise.resolve(Uint8Array.from([2 + text.length, 3, ...text, 0xaa]));
    };
    expect(await transport.getStringDescriptor(2)).toBe('Kamera ✓');
    expect(await transport.getStringDescriptor(3)).toBe('Kamera ✓');
    expect(device.calls.filter((c) => c.includes(' 300 '))).toHaveLength(1);
    expect(await codeOf(transport.getStringDescriptor(0))).toBe('EINVAL');
    expect(await codeOf(transport.getStringDescriptor(256))).toBe('EINVAL');
  });

  it('rejects malformed string descriptors with EPROTO', async () => {
    const { device, transport } = setup();
    device.control = (_rt, _r, wValue) =>
      Promise.resolve(wValue === 0x0300 ? Uint8Array.from([4, 3, 9, 4]) : Uint8Array.from([40, 3, 0x41, 0]));
    expect(await codeOf(transport.getStringDescriptor(1))).toBe('EPROTO');
    device.control = (_rt, _r, wValue) => Promise.resolve(wValue === 0x0300 ? Uint8Array.from([2, 3]) : new Uint8Array(0));
    const fresh = new NativeTransport(device, CONFIG);
    expect(await codeOf(fresh.getStringDescriptor(1))).toBe('EPROTO');
  });

  it('passes a failed stream start on as a UvcError, and ENODEV as a disconnect', () => {
    const { device, transport, disconnects } = setup();
    device.startError = nativeError('EBUSY', 'a stream already runs');
    expect(syncCodeOf(() => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 2, packetsPerTransfer: 8, packetSize: 1024 }, () => {}))).toBe('EBUSY');
    device.startError = nativeError('ENODEV', 'gone');
    expect(syncCodeOf(() => transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 2, packetsPerTransfer: 8, packetSize: 1024 }, () => {}))).toBe('ENODEV');
    expect(disconnects()).toBe(1);
  });
});

describe('NativeStream', () => {
  const ISO = { endpoint: 0x81, type: 'iso' as const, transfers: 3, packetsPerTransfer: 4, packetSize: 3072 };

  it('hands each completion over on the slot views, with its numbers', () => {
    const { device, transport } = setup();
    const seen: CompletedTransfer[] = [];
    const stream = transport.startStream(ISO, (t) => seen.push(t));
    const raw = device.streams[0]!;
    raw.complete(1, TransferStatus.COMPLETED, 9000, 5);
    raw.complete(0, TransferStatus.COMPLETED, 12);
    expect(seen).toHaveLength(2);
    const [a, b] = seen as [CompletedTransfer, CompletedTransfer];
    expect(a).toMatchObject({ slot: 1, sequence: 0, status: 0, actualLength: 9000, packetCount: 4, packetStride: 3072, lostIntervals: 5, completedAtNs: 123_456_789 });
    expect(a.buffer).toBe(raw.slots[1]!.buffer);
    expect(a.packetStatus).toBe(raw.slots[1]!.packetStatus);
    expect(a.packetLength).toBe(raw.slots[1]!.packetLength);
    expect(b.sequence).toBe(1);
    expect(stream.options).toEqual(ISO);
    expect(Object.isFrozen(stream.options)).toBe(true);
  });

  it('releases each completion once; a stale object cannot release a later completion of its slot', () => {
    const { device, transport } = setup();
    const seen: CompletedTransfer[] = [];
    transport.startStream(ISO, (t) => seen.push(t));
    const raw = device.streams[0]!;
    raw.complete(2);
    seen[0]!.release();
    seen[0]!.release();
    expect(raw.released).toEqual([2]);
    raw.complete(2);
    seen[0]!.release();
    expect(raw.released).toEqual([2]);
    seen[1]!.release();
    expect(raw.released).toEqual([2, 2]);
  });

  it('hands back what a dispatch released in one call when it returns, and a later release at once', () => {
    const { device, transport } = setup();
    const seen: CompletedTransfer[] = [];
    const duringDispatch: number[][] = [];
    transport.startStream({ ...ISO, spareTransfers: 2 }, (t) => {
      seen.push(t);
      if (t.slot !== 3) {
        t.release();
        t.release(); // twice: still once
      }
      duringDispatch.push([...raw.released]); // nothing reaches the addon while the dispatch runs
    });
    const raw = device.streams[0]!;
    raw.completeBatch([{ slot: 4 }, { slot: 0 }, { slot: 3 }, { slot: 1 }]);
    expect(duringDispatch).toEqual([[], [], [], []]);
    expect(raw.releaseLists).toEqual([[4, 0, 1]]);
    seen[2]!.release(); // slot 3, kept past its dispatch: handed back at once
    expect(raw.released).toEqual([4, 0, 1, 3]);
    raw.completeBatch([{ slot: 2 }]);
    expect(raw.releaseLists).toEqual([[4, 0, 1], [2]]);
    expect(raw.released).toEqual([4, 0, 1, 3, 2]);
  });

  it('hands back a release made outside a dispatch at once', () => {
    const { device, transport } = setup();
    const seen: CompletedTransfer[] = [];
    transport.startStream(ISO, (t) => seen.push(t));
    const raw = device.streams[0]!;
    raw.completeBatch([{ slot: 1 }, { slot: 2 }]);
    expect(raw.released).toEqual([]);
    seen[1]!.release();
    expect(raw.released).toEqual([2]);
    expect(raw.releaseLists).toEqual([]);
  });

  it('stops once, returns the same promise, and delivers nothing afterwards', async () => {
    const { device, transport } = setup();
    const seen: CompletedTransfer[] = [];
    const stream = transport.startStream({ endpoint: 0x82, type: 'bulk', transfers: 2, transferSize: 64 }, (t) => seen.push(t));
    const raw = device.streams[0]!;
    raw.complete(0, 0, 64);
    const held = seen[0]!;
    const first = stream.stop();
    expect(stream.stop()).toBe(first);
    expect(stream.stopped).toBe(true);
    await first;
    expect(raw.stopCalls).toBe(1);
    raw.complete(1);
    expect(seen).toHaveLength(1);
    held.release();
    expect(raw.released).toEqual([]);
    expect(held.packetStride).toBe(0);
    expect(held.packetCount).toBe(0);
  });

  it('turns a NO_DEVICE completion into one disconnect', () => {
    const { device, transport, disconnects } = setup();
    const seen: CompletedTransfer[] = [];
    transport.startStream(ISO, (t) => seen.push(t));
    device.streams[0]!.complete(0, TransferStatus.NO_DEVICE);
    device.streams[0]!.complete(1, TransferStatus.NO_DEVICE);
    device.unplug();
    expect(seen.map((t) => t.status)).toEqual([TransferStatus.NO_DEVICE, TransferStatus.NO_DEVICE]);
    expect(disconnects()).toBe(1);
  });

  it('hands a whole batch over in order, with spare slots numbered after those in flight', () => {
    const { device, transport } = setup();
    const seen: CompletedTransfer[] = [];
    const stream = transport.startStream({ ...ISO, spareTransfers: 2 }, (t) => seen.push(t));
    const raw = device.streams[0]!;
    expect(raw.options.spareTransfers).toBe(2);
    expect(raw.slots).toHaveLength(5);
    raw.completeBatch([{ slot: 4, actualLength: 7 }, { slot: 0, actualLength: 8, lostIntervals: 3 }, { slot: 3 }]);
    expect(seen.map((t) => [t.slot, t.sequence, t.actualLength, t.lostIntervals])).toEqual([
      [4, 0, 7, 0],
      [0, 1, 8, 3],
      [3, 2, 0, 0],
    ]);
    expect(seen[0]!.buffer).toBe(raw.slots[4]!.buffer);
    seen[0]!.release();
    expect(raw.released).toEqual([4]);
    expect(stream.failure).toBeUndefined();
  });

  it("passes the UVC layer's wake-up choice to the addon and reports how often it woke JavaScript", () => {
    const { device, transport } = setup();
    const seen: CompletedTransfer[] = [];
    const stream = transport.startStream({ ...ISO, spareTransfers: 2, wakeOn: 'uvc-frame', wakeAfterMs: 40 }, (t) => seen.push(t));
    const raw = device.streams[0]!;
    expect(raw.options).toMatchObject({ wakeOn: 'uvc-frame', wakeAfterMs: 40 });
    raw.completeBatch([{ slot: 0 }, { slot: 1 }, { slot: 2 }]);
    raw.completeBatch([{ slot: 3 }]);
    expect(seen.map((t) => t.sequence)).toEqual([0, 1, 2, 3]);
    expect(stream.stats).toMatchObject({ completed: 4, wakes: 2 });
  });

  it('with onTransfers, hands a batch over in one call, a completion that ends the stream alone, in order', () => {
    const { device, transport } = setup();
    const calls: string[] = [];
    const lists: unknown[] = [];
    let releasesSeen: number[][] = [];
    const stream = transport.startStream(
      { ...ISO, spareTransfers: 3 },
      (t) => calls.push(`one ${t.slot}:${t.status}`),
      (transfers, count) => {
        lists.push(transfers);
        calls.push(`together ${transfers.slice(0, count).map((t) => t.slot).join(',')}`);
        for (let i = 0; i < count; i++) transfers[i]!.release();
        releasesSeen.push([...raw.released]); // handed back when the dispatch returns, not before
      },
    );
    const raw = device.streams[0]!;
    raw.completeBatch([{ slot: 0 }, { slot: 1, lostIntervals: 2 }, { slot: 2, status: TransferStatus.NO_DEVICE }, { slot: 3 }, { slot: 4 }]);
    expect(calls).toEqual(['together 0,1', `one 2:${TransferStatus.NO_DEVICE}`, 'together 3,4']);
    expect(releasesSeen).toEqual([[], []]);
    expect(raw.releaseLists).toEqual([[0, 1, 3, 4]]);
    // The array is the stream's own, reused and emptied after each call.
    expect(lists[0]).toBe(lists[1]);
    expect((lists[0] as unknown[]).every((t) => t === undefined)).toBe(true);
    // The engine's last completion before it gives up goes alone, after those before it.
    calls.length = 0;
    releasesSeen = [];
    raw.completeBatch([{ slot: 0 }, { slot: 1, status: TransferStatus.STALL, final: true }]);
    expect(calls).toEqual(['together 0', `one 1:${TransferStatus.STALL}`]);
    expect(stream.failure?.code).toBe('EPIPE');
  });

  it('stops handing over a batch as soon as the callback stops the stream', () => {
    const { device, transport } = setup();
    const seen: CompletedTransfer[] = [];
    const stream = transport.startStream(ISO, (t) => {
      seen.push(t);
      void stream.stop();
    });
    device.streams[0]!.completeBatch([{ slot: 0 }, { slot: 1 }]);
    expect(seen).toHaveLength(1);
  });

  it('reports a stream the engine gave up on: failure set during its last completion, then stopped', async () => {
    const { device, transport } = setup();
    const failures: (string | undefined)[] = [];
    const stream = transport.startStream({ endpoint: 0x82, type: 'bulk', transfers: 2, transferSize: 512 }, (t) => {
      failures.push(stream.failure?.code);
      t.release();
    });
    const raw = device.streams[0]!;
    raw.completeBatch([{ slot: 0, status: TransferStatus.STALL }]);
    raw.completeBatch([{ slot: 1, status: TransferStatus.STALL, final: true }]);
    expect(failures).toEqual([undefined, 'EPIPE']);
    expect(stream.failure?.message).toMatch(/gave up: 16 transfers in a row failed at once \(the last with EPIPE\)/);
    expect(stream.stopped).toBe(true);
    expect(raw.stopCalls).toBe(1);
    await stream.stop();
  });
});
