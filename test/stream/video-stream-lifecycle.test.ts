/**
 * VideoStream at the two ends that come from the transfers themselves (issue 13): the device leaving (the queue
 * is disconnected from the stream's NO_DEVICE completion, after the completions that came back before it) and an
 * endpoint that keeps failing (the stream stops and the queue fails with EIO).
 */
import { describe, expect, it, vi } from 'vitest';
import { BufferQueue } from '../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import type { UvcError } from '../../src/errors.js';
import { VideoStream, type VideoStreamConfig } from '../../src/stream/video-stream.js';
import { expectRejectsCode, tick } from '../queue/helpers.js';
import { openSteppedTransport, type BusSource } from './helpers/stepped-device.js';
import { SyntheticCamera, frameNumberOf, type CameraSpec } from './helpers/synthetic-camera.js';

const FRAME = 64 * 48 * 2;

const SPEC: CameraSpec = {
  kind: 'uncompressed',
  transfer: 'iso',
  framing: 'standard',
  frameSize: FRAME,
  packetSize: 1024,
  headerLength: 12,
  idlePackets: 3,
  maxPayload: 8192,
  faults: { lostPacket: 0, errBit: 0, missingEof: 0, shortFrame: 0, bogusHeader: 0 },
  seed: 1,
};

function config(transferType: 'iso' | 'bulk'): VideoStreamConfig {
  return {
    endpoint: 0x81,
    transferType,
    speed: 'high',
    bytesPerInterval: 1024,
    // Iso: 32 packets per transfer, 10 per frame; one transfer ends frames. Small transfers keep frames spread out.
    dwMaxPayloadTransferSize: transferType === 'iso' ? 1024 : 8192,
    dwMaxVideoFrameSize: FRAME,
    expectedFrameSize: FRAME,
    formatKind: 'uncompressed',
    packetsPerTransfer: 4,
    transfers: 4,
  };
}

async function setup(source: BusSource, transferType: 'iso' | 'bulk' = 'iso') {
  const transport = await openSteppedTransport(transferType, source);
  const queue = new BufferQueue({ bufferSize: FRAME });
  const streamErrors: UvcError[] = [];
  const stream = new VideoStream(transport, queue, config(transferType), { onStreamError: (e) => streamErrors.push(e) });
  queue.setDriver(stream);
  const handle = new QueueHandle(queue);
  handle.reqbufs(8);
  for (let i = 0; i < 8; i++) handle.qbuf(i);
  return { transport, queue, stream, handle, streamErrors };
}

describe('VideoStream: the device leaves', () => {
  it("keeps a frame whose end completes after the 'disconnect' event, and disconnects from the NO_DEVICE completion", async () => {
    const { transport, queue, handle } = await setup(new SyntheticCamera(SPEC));
    await handle.streamon();
    const usb = transport.current!;
    // Frame 0 is 7 data packets (then 3 idle ones): one transfer of 4 leaves it unfinished.
    await usb.step();
    expect(queue.doneCount).toBe(0);
    // libusb's order: the hotplug callback first (the host says 'disconnect'), then the transfers that finished
    // before the device left.
    transport.stepped.leave();
    expect(transport.isDisconnected).toBe(true);
    expect(queue.disconnected).toBe(false);
    await usb.step(); // holds frame 0's end
    expect(queue.doneCount).toBe(1);
    await usb.failAll(); // then NO_DEVICE
    expect(queue.disconnected).toBe(true);
    const frame = await handle.dqbuf();
    expect(frame.flags.error).toBe(false);
    expect(frameNumberOf('uncompressed', frame.data)).toBe(0);
    const cancelled = await handle.dqbuf();
    expect(cancelled.flags.error).toBe(true);
    expect(cancelled.bytesused).toBe(0);
    queue.assertInvariants();
  });

  it("waits for NO_DEVICE as long as completions from before the unplug still come, however slowly", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { transport, queue, handle } = await setup(new SyntheticCamera(SPEC));
      await handle.streamon();
      const usb = transport.current!;
      // Frame 0 (7 data packets, then 3 idle ones) goes out in two transfers of 4, which complete on the bus; then
      // the device leaves, and the hotplug event ('disconnect') reaches JavaScript before those completions do.
      transport.stepped.completeOldest(4);
      transport.stepped.completeOldest(4);
      transport.stepped.leave();
      expect(queue.disconnected).toBe(false);
      // A loaded machine: 300 ms between completions, 600 ms in all, longer than the fallback's 500 ms.
      usb.beforeDeliver = () => vi.advanceTimersByTime(300);
      for (let i = 0; i < 8 && !queue.disconnected; i++) await tick();
      expect(usb.delivered).toBeGreaterThanOrEqual(3); // the two, then a NO_DEVICE
      expect(queue.disconnected).toBe(true);
      const frame = await handle.dqbuf();
      expect(frame.flags.error).toBe(false);
      expect(frameNumberOf('uncompressed', frame.data)).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('cancels the queue by itself when the transport never reports NO_DEVICE', async () => {
    const { transport, queue, stream, handle } = await setup(new SyntheticCamera(SPEC));
    await handle.streamon();
    const waiting = handle.dqbuf();
    transport.stepped.leave(); // and its transfers never come back
    await tick();
    expect(queue.disconnected).toBe(false); // still waiting for the transfers
    const buffer = await waiting; // the fallback wakes it: the buffer being filled, in error
    expect(buffer.flags.error).toBe(true);
    expect(queue.disconnected).toBe(true);
    for (let i = 0; i < 10 && stream.running; i++) await tick(); // the stop cancels the transfers, then resolves
    expect(stream.running).toBe(false);
    queue.assertInvariants();
  });

  it('learns of the unplug when it is stopped before any NO_DEVICE came', async () => {
    const { transport, queue, handle } = await setup(new SyntheticCamera(SPEC));
    await handle.streamon();
    transport.stepped.leave();
    await handle.streamoff();
    expect(queue.disconnected).toBe(true);
    await expectRejectsCode(handle.streamon(), 'ENXIO');
  });
});

describe('VideoStream: an endpoint that keeps failing', () => {
  function failing(): BusSource & { fail: boolean } {
    const camera = new SyntheticCamera({ ...SPEC, transfer: 'bulk' });
    const source = {
      fail: true,
      isoPacket: () => -1,
      isoMissed: () => undefined,
      bulkChunk: (into: Uint8Array, capacity: number) => (source.fail ? -1 : camera.bulkChunk(into, capacity)),
    };
    return source;
  }

  it('stops after a bounded run of failed transfers (two rounds of all, at least 16) and fails the queue with EIO', async () => {
    const source = failing();
    const { transport, queue, stream, handle, streamErrors } = await setup(source, 'bulk');
    await handle.streamon();
    const usb = transport.current!;
    // Judged as it settles: the failure comes while the bus is being stepped, turns of the event loop later.
    const waiting = expectRejectsCode(handle.dqbuf(), 'EIO');
    let steps = 0;
    while (steps < 1000 && (await usb.step())) steps++;
    // The bus completes whatever is submitted: the stream stopped giving transfers back at the bound.
    expect(steps).toBeGreaterThanOrEqual(16);
    expect(steps).toBeLessThan(16 + 4);
    expect(streamErrors.map((e) => e.code)).toEqual(['EIO']);
    await waiting;
    for (let i = 0; i < 10 && stream.running; i++) await tick();
    expect(stream.running).toBe(false);
    expect(queue.error?.code).toBe('EIO');
    queue.assertInvariants();
  });

  it('counts failures in a row only: one good transfer starts the count again', async () => {
    const source = failing();
    const { transport, handle, streamErrors } = await setup(source, 'bulk');
    await handle.streamon();
    const usb = transport.current!;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) await usb.step();
      source.fail = false;
      await usb.step();
      source.fail = true;
    }
    expect(streamErrors).toEqual([]);
    await handle.streamoff();
  });
});
