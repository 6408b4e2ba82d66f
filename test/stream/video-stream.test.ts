import { describe, expect, it } from 'vitest';
import { BufferQueue } from '../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import { UvcError, isUvcError } from '../../src/errors.js';
import { VideoStream, type VideoStreamConfig, type VideoStreamSink } from '../../src/stream/video-stream.js';
import { expectRejectsCode, tick } from '../queue/helpers.js';
import { openSteppedTransport } from './helpers/stepped-device.js';
import { sameBytes } from './helpers/transfers.js';
import { SyntheticCamera, frameContent, frameNumberOf, type CameraSpec, type Framing } from './helpers/synthetic-camera.js';
import { Random } from './helpers/random.js';

const FRAME = 64 * 48 * 2;

function cameraSpec(overrides: Partial<CameraSpec> = {}): CameraSpec {
  return {
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
    ...overrides,
  };
}

function streamConfig(spec: CameraSpec, overrides: Partial<VideoStreamConfig> = {}): VideoStreamConfig {
  return {
    endpoint: 0x81,
    transferType: spec.transfer,
    speed: 'high',
    bytesPerInterval: spec.packetSize,
    dwMaxPayloadTransferSize: spec.transfer === 'iso' ? spec.packetSize : spec.maxPayload,
    dwMaxVideoFrameSize: spec.frameSize,
    expectedFrameSize: spec.kind === 'uncompressed' ? spec.frameSize : undefined,
    formatKind: spec.kind,
    dwClockFrequency: 48_000_000,
    ...overrides,
  };
}

/** A queue sink that counts disconnect calls. */
function countingSink(queue: BufferQueue): VideoStreamSink & { disconnects: number } {
  const sink = {
    disconnects: 0,
    nextBuffer: () => queue.nextBuffer(),
    isActive: queue.isActive.bind(queue),
    completeBuffer: queue.completeBuffer.bind(queue),
    requeueBuffer: queue.requeueBuffer.bind(queue),
    disconnect: () => {
      sink.disconnects++;
      queue.disconnect();
    },
  };
  return sink;
}

async function setup(spec = cameraSpec(), buffers = 4) {
  const camera = new SyntheticCamera(spec);
  const transport = await openSteppedTransport(spec.transfer, camera);
  const queue = new BufferQueue({ bufferSize: spec.frameSize });
  const sink = countingSink(queue);
  const errors: UvcError[] = [];
  const stream = new VideoStream(transport, sink, streamConfig(spec), { onError: (e) => errors.push(e) });
  queue.setDriver(stream);
  const handle = new QueueHandle(queue);
  handle.reqbufs(buffers);
  for (let i = 0; i < buffers; i++) handle.qbuf(i);
  return { transport, camera, queue, sink, stream, handle, errors };
}

describe('VideoStream', () => {
  it('streamon starts the transport stream with the planned transfers; frames flow into the queue; transfers are released at once', async () => {
    const { transport, queue, stream, handle, errors } = await setup(cameraSpec(), 8);
    await handle.streamon();
    expect(stream.running).toBe(true);
    const usb = transport.current!;
    expect(usb.options).toEqual({ endpoint: 0x81, type: 'iso', transfers: 5, packetsPerTransfer: 32, packetSize: 1024, wakeOn: 'uvc-frame', wakeAfterMs: 50 });
    const frames: number[] = [];
    for (let step = 0; step < 20; step++) {
      await usb.step();
      expect(usb.heldCount).toBe(0);
      while (queue.doneCount > 0) {
        const buffer = await handle.dqbuf({ nonblock: true });
        expect(buffer.flags.error).toBe(false);
        const n = frameNumberOf('uncompressed', buffer.data);
        expect(sameBytes(buffer.data, frameContent('uncompressed', n, FRAME))).toBe(true);
        frames.push(n);
        handle.qbuf(buffer.index);
      }
    }
    // 20 transfers × 32 packets, 10 packets per frame (7 data + 3 idle): 64 frames, all complete.
    expect(frames).toEqual(Array.from({ length: 64 }, (_, n) => n));
    expect(stream.stats.frames).toBe(64);
    expect(usb.strayReleases).toBe(0);
    await handle.streamoff();
    expect(stream.running).toBe(false);
    expect(transport.current).toBeNull();
    expect(usb.stopped).toBe(true);
    expect(errors).toEqual([]);
    queue.assertInvariants();
  });

  it('streamoff and streamon restart the stream from a fresh frame and sequence 0', async () => {
    const { transport, queue, handle } = await setup();
    await handle.streamon();
    for (let i = 0; i < 3; i++) await transport.current!.step();
    await handle.streamoff();
    for (let i = 0; i < 4; i++) handle.qbuf(i);
    await handle.streamon();
    expect(transport.streamsStarted).toBe(2);
    await transport.current!.step();
    const first = await handle.dqbuf({ nonblock: true });
    expect(first.sequence).toBe(0);
    expect(first.flags.error).toBe(false);
    queue.assertInvariants();
  });

  for (const order of ['transfers-first', 'event-first'] as const) {
    it(`an unplug (${order}) disconnects the queue exactly once and stops the stream`, async () => {
      const { transport, queue, sink, stream, handle, errors } = await setup();
      await handle.streamon();
      await transport.current!.step();
      const waiting = handle.dqbuf();
      const waiting2 = handle.dqbuf();
      await tick();
      await transport.unplug(order);
      expect(queue.disconnected).toBe(true);
      expect(sink.disconnects).toBe(1);
      const settled = await Promise.allSettled([waiting, waiting2]);
      expect(settled.every((s) => s.status === 'fulfilled' || isUvcError(s.reason, 'ENXIO'))).toBe(true);
      await tick();
      await tick();
      expect(stream.running).toBe(false);
      expect(transport.current).toBeNull();
      expect(transport.listenerCount('disconnect')).toBe(0);
      expect(sink.disconnects).toBe(1);
      expect(errors).toEqual([]);
      await expectRejectsCode(handle.streamon(), 'ENXIO');
      queue.assertInvariants();
    });
  }

  it('starting on a device that is already gone fails with ENXIO and marks the queue disconnected', async () => {
    const { transport, queue, sink, handle } = await setup();
    await transport.unplug();
    await expectRejectsCode(handle.streamon(), 'ENXIO');
    expect(sink.disconnects).toBe(1);
    expect(queue.disconnected).toBe(true);
    queue.assertInvariants();
  });

  it('an error inside assembly is reported, the transfer is still released and streaming goes on', async () => {
    const spec = cameraSpec();
    const transport = await openSteppedTransport(spec.transfer, new SyntheticCamera(spec));
    const queue = new BufferQueue({ bufferSize: FRAME });
    const sink = countingSink(queue);
    let fail = true;
    sink.completeBuffer = (buffer, frame) => {
      if (fail) {
        fail = false;
        throw new Error('boom');
      }
      return queue.completeBuffer(buffer, frame);
    };
    const errors: UvcError[] = [];
    const stream = new VideoStream(transport, sink, streamConfig(spec), { onError: (e) => errors.push(e) });
    queue.setDriver(stream);
    const handle = new QueueHandle(queue);
    handle.reqbufs(4);
    for (let i = 0; i < 4; i++) handle.qbuf(i);
    await handle.streamon();
    await transport.current!.step();
    expect(errors.map((e) => e.code)).toEqual(['EIO']);
    expect(transport.current!.heldCount).toBe(0);
    for (let i = 0; i < 3; i++) await transport.current!.step();
    expect(queue.doneCount).toBeGreaterThan(0);
    await handle.streamoff();
  });

  it('says when JavaScript held every transfer buffer until bus time was lost (ENOBUFS warning), once per gap', async () => {
    const { transport, handle, errors } = await setup(cameraSpec(), 8);
    await handle.streamon();
    const usb = transport.current!;
    for (let i = 0; i < 3; i++) await usb.step();
    expect(errors).toEqual([]);
    usb.injectGap(40);
    for (let i = 0; i < 5; i++) await usb.step();
    expect(errors.map((e) => e.code)).toEqual(['ENOBUFS']);
    expect(errors[0]!.details).toEqual({ lostIntervals: 40 });
    expect(errors[0]!.message).toMatch(/40 bus intervals \(5\.0 ms\) lost; keep the event loop free or raise stallToleranceMs/);
    await handle.streamoff();
  });

  it('refuses an OUT endpoint and a bad frame size', async () => {
    const transport = await openSteppedTransport();
    const queue = new BufferQueue({ bufferSize: FRAME });
    expect(() => new VideoStream(transport, queue, streamConfig(cameraSpec(), { endpoint: 0x01 }))).toThrow(UvcError);
    expect(() => new VideoStream(transport, queue, streamConfig(cameraSpec(), { expectedFrameSize: 0 }))).toThrow(UvcError);
  });

  it('bulk: payloads spanning transfers reach the queue intact', async () => {
    const spec = cameraSpec({ transfer: 'bulk', kind: 'mjpeg', frameSize: 30_000, minFrameSize: 10_000, maxPayload: 12_000 });
    const { transport, queue, handle, stream } = await setup(spec);
    await handle.streamon();
    expect(stream.plan).toMatchObject({ transferType: 'bulk', transferSize: 12_288 });
    const seen: number[] = [];
    for (let step = 0; step < 60; step++) {
      await transport.current!.step();
      while (queue.doneCount > 0) {
        const buffer = await handle.dqbuf({ nonblock: true });
        expect(buffer.flags.error).toBe(false);
        const n = frameNumberOf('mjpeg', buffer.data);
        expect(sameBytes(buffer.data, frameContent('mjpeg', n, buffer.bytesused))).toBe(true);
        seen.push(n);
        handle.qbuf(buffer.index);
      }
    }
    expect(seen.length).toBeGreaterThan(10);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, n) => n));
    await handle.streamoff();
  });

  for (const framing of ['standard', 'no-eof', 'late-fid'] as Framing[]) {
    it(`back-pressure gaps (${framing}): the sequence gap is exactly the number of frames lost`, async () => {
      const spec = cameraSpec({ framing, idlePackets: 5, seed: 11 });
      const camera = new SyntheticCamera(spec);
      const transport = await openSteppedTransport(spec.transfer, camera);
      const queue = new BufferQueue({ bufferSize: FRAME });
      const packetsPerFrame = Math.ceil(FRAME / (spec.packetSize - spec.headerLength)) + spec.idlePackets;
      const stream = new VideoStream(transport, queue, streamConfig(spec, { frameIntervalNs: packetsPerFrame * 125_000, packetsPerTransfer: 8 }));
      queue.setDriver(stream);
      const handle = new QueueHandle(queue);
      handle.reqbufs(8);
      for (let i = 0; i < 8; i++) handle.qbuf(i);
      await handle.streamon();
      const random = new Random(5);
      let previous: { n: number; sequence: number } | null = null;
      let pairs = 0;
      let acrossGaps = 0;
      let gapSinceGood = false;
      for (let step = 0; step < 3000; step++) {
        if (random.chance(0.2)) {
          // Gaps of 2 ms and more: the SCR's SOF counter (1 ms resolution) shows them, and only what the camera
          // shows counts (issue 12). Shorter gaps are judged by the frames' sizes alone.
          transport.current!.injectGap(random.int(16, 300));
          gapSinceGood = true;
        }
        await transport.current!.step();
        while (queue.doneCount > 0) {
          const buffer = await handle.dqbuf({ nonblock: true });
          if (!buffer.flags.error) {
            const n = frameNumberOf('uncompressed', buffer.data);
            expect(sameBytes(buffer.data, frameContent('uncompressed', n, FRAME))).toBe(true);
            if (previous !== null) {
              expect(buffer.sequence - previous.sequence, `frames ${previous.n} → ${n}`).toBe(n - previous.n);
              pairs++;
              if (gapSinceGood) acrossGaps++;
            }
            previous = { n, sequence: buffer.sequence };
            gapSinceGood = false;
          }
          handle.qbuf(buffer.index);
        }
      }
      expect(pairs).toBeGreaterThan(1000);
      expect(acrossGaps).toBeGreaterThan(200);
      expect(stream.stats.droppedFrames).toBeGreaterThan(500);
      await handle.streamoff();
    });
  }
});
