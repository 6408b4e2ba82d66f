/**
 * Randomized fault stress: 10 000 frames through VideoStream, the buffer queue and the in-process host on a stepped bus, with lost
 * packets, ERR bits, missing EOFs, short frames, bogus headers, back-pressure gaps, a consumer that dequeues
 * and queues at random moments (and sometimes starves the queue), streamoff/streamon cycles, and a disconnect
 * at a random point. Each device life draws its own camera (format, framing quirk, header size, idle time).
 *
 * Judged on every step: the queue's invariant checker (every buffer in exactly one place). On every frame: a
 * frame delivered without the error flag is byte-exact, was not damaged and had no ERR bit; sequence numbers
 * rise; between two good frames with no fault in between, the sequence gap equals the number of frames the
 * camera sent (a gap always means lost frames, lost frames always show as a gap). At the end of a life: every
 * dqbuf and every fence settled, the queue disconnected exactly once, the stream stopped, every transfer
 * released. Across the run: heap after GC at 10 000 frames stays within a generous ratio of the heap at 2 000.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { BufferQueue } from '../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import type { VideoBuffer } from '../../src/queue/video-buffer.js';
import { isUvcError, type UvcError } from '../../src/errors.js';
import { VideoStream, type VideoStreamConfig, type VideoStreamSink } from '../../src/stream/video-stream.js';
import { openSteppedTransport, type SteppedStream } from './helpers/stepped-device.js';
import { Random } from './helpers/random.js';
import {
  SyntheticCamera,
  frameContent,
  frameNumberOf,
  frameSize,
  type CameraSpec,
  type Framing,
  type Kind,
} from './helpers/synthetic-camera.js';
import { sameBytes } from './helpers/transfers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TOTAL_FRAMES = 10_000;

interface Judge {
  goodFrames: number;
  /** Good frames a back-pressure gap damaged where the camera gave no evidence of it (see judgeFrame). */
  unprovenGapDamage: number;
  errorFrames: number;
  checkedGaps: number;
  exactGaps: number;
  cycles: number;
  disconnects: number;
  lives: number;
}

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function drawSpec(random: Random, transfer: 'iso' | 'bulk', kind: Kind, framing: Framing, seed: number): CameraSpec {
  const frame = kind === 'uncompressed' ? random.pick([4096, 6144, 8000]) : random.int(6000, 12_000);
  return {
    kind,
    transfer,
    framing,
    frameSize: frame,
    minFrameSize: kind === 'uncompressed' ? undefined : Math.floor(frame / 3),
    packetSize: random.pick([512, 1024, 3072]),
    headerLength: random.pick([2, 12] as const),
    idlePackets: random.int(0, 6),
    maxPayload: random.pick([2048, 4096, 16_384]),
    faults: { lostPacket: 0.02, errBit: 0.02, missingEof: 0.03, shortFrame: 0.03, bogusHeader: 0.02 },
    seed,
  };
}

function configFor(spec: CameraSpec): VideoStreamConfig {
  const dataPerPacket = spec.packetSize - spec.headerLength;
  const packetsPerFrame = Math.ceil(spec.frameSize / dataPerPacket) + spec.idlePackets;
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
    frameIntervalNs: packetsPerFrame * 125_000,
    // Small bulk transfers, so payloads span transfers; iso transfers of several sizes.
    transferSize: spec.transfer === 'bulk' ? Math.min(spec.maxPayload, 2048) : undefined,
    packetsPerTransfer: spec.transfer === 'iso' ? [4, 8, 16, 32][spec.seed % 4] : undefined,
  };
}

/** One device life: plug, stream with faults and cycles, then unplug or close. Returns the frames generated. */
async function runLife(
  random: Random,
  transfer: 'iso' | 'bulk',
  kind: Kind,
  framing: Framing,
  frames: number,
  unplug: boolean,
  judge: Judge,
  onProgress: (generated: number) => void,
): Promise<number> {
  judge.lives++;
  const spec = drawSpec(random, transfer, kind, framing, random.int(1, 2 ** 30));
  const camera = new SyntheticCamera(spec);
  const transport = await openSteppedTransport(transfer, camera);
  // What went over the bus lately, for the message of a failed check (the run replays from its seed).
  const trace: string[] = [];
  const log = (line: string): void => {
    trace.push(line);
    if (trace.length > 80) trace.shift();
  };
  traceCamera(camera, log);
  const queue = new BufferQueue({ bufferSize: spec.frameSize });
  let disconnectCalls = 0;
  const sink: VideoStreamSink = {
    nextBuffer: () => queue.nextBuffer(),
    isActive: (buffer, activation) => queue.isActive(buffer, activation),
    completeBuffer: (buffer, frame) => {
      log(`complete seq ${frame.sequence} used ${frame.bytesused} err ${frame.error} n ${frameNumberOf(spec.kind, buffer.memory)}`);
      return queue.completeBuffer(buffer, frame);
    },
    requeueBuffer: (buffer) => queue.requeueBuffer(buffer),
    disconnect: () => {
      disconnectCalls++;
      queue.disconnect();
    },
  };
  const errors: UvcError[] = [];
  const stream = new VideoStream(transport, sink, configFor(spec), { onError: (e) => errors.push(e) });
  queue.setDriver(stream);
  const handle: QueueHandle = new QueueHandle(queue);
  const count = handle.reqbufs(random.int(2, 8));
  const streams: SteppedStream[] = [];
  const pending = new Set<Promise<unknown>>();
  const track = (promise: Promise<unknown>): void => {
    const settled: Promise<unknown> = promise.then(
      () => pending.delete(settled),
      () => pending.delete(settled),
    );
    pending.add(settled);
  };
  const held: VideoBuffer[] = [];
  let session = 0;
  let last: { session: number; sequence: number } = { session: -1, sequence: -1 };
  let lastGood: { session: number; sequence: number; n: number } | null = null;
  const unplugAt = unplug ? random.int(Math.floor(frames / 4), frames) : Infinity;

  const judgeFrame = (buffer: VideoBuffer, issuedIn: number): void => {
    expect(buffer.state).toBe('dequeued');
    if (buffer.sequence === -1) {
      // A buffer cancelled without a frame (disconnect).
      expect(buffer.flags.error).toBe(true);
      expect(buffer.bytesused).toBe(0);
      judge.errorFrames++;
      return;
    }
    if (issuedIn === last.session) expect(buffer.sequence).toBeGreaterThan(last.sequence);
    last = { session: issuedIn, sequence: buffer.sequence };
    if (buffer.flags.error) {
      judge.errorFrames++;
      return;
    }
    judge.goodFrames++;
    const n = frameNumberOf(spec.kind, buffer.data);
    const why = (): string =>
      `frame ${n}, sequence ${buffer.sequence}, ${buffer.bytesused} bytes; camera ${JSON.stringify({ ...spec, faults: 0 })}; ` +
      `stats ${JSON.stringify(stream.stats)}\n${trace.join('\n')}`;
    expect(n, `a good frame carries its number: ${why()}`).toBeGreaterThanOrEqual(0);
    const truth = camera.truth[n];
    expect(truth, `no such frame: ${why()}`).toBeDefined();
    if (truth!.damaged && !truth!.otherFault && spec.kind !== 'uncompressed') {
      // Only a back-pressure gap touched it: with SCR in the headers, lost bus time is taken as loss only where
      // the camera shows it (the SOF counter; sizes, start and end marks), not from the host's clock (issue 12).
      // A compressed frame whose middle went into a gap shorter than the SOF can show passes: counted.
      judge.unprovenGapDamage++;
      return;
    }
    expect(truth!.damaged, `damaged but delivered as good: ${why()}`).toBe(false);
    expect(truth!.errBit, `ERR but delivered as good: ${why()}`).toBe(false);
    expect(buffer.bytesused, why()).toBe(frameSize(spec, n));
    expect(sameBytes(buffer.data, frameContent(spec.kind, n, truth!.size)), `content: ${why()}`).toBe(true);
    if (lastGood !== null && lastGood.session === issuedIn) {
      expect(n).toBeGreaterThan(lastGood.n);
      let faults = 0;
      for (let k = lastGood.n + 1; k <= n; k++) if (camera.truth[k]!.faultNearby) faults++;
      const dSeq = buffer.sequence - lastGood.sequence;
      const dN = n - lastGood.n;
      if (faults === 0) {
        judge.checkedGaps++;
        expect(dSeq, `sequence gap between frames ${lastGood.n} and ${n} (${JSON.stringify({ ...spec, faults: 0 })})`).toBe(dN);
        judge.exactGaps++;
      } else {
        // Faults may merge or split frames; the sequence stays close to the truth.
        expect(Math.abs(dSeq - dN), `sequence ${lastGood.sequence}→${buffer.sequence} for frames ${lastGood.n}→${n}, ${faults} faulty (${JSON.stringify({ ...spec, faults: 0 })})`).toBeLessThanOrEqual(3 * faults);
      }
    }
    lastGood = { session: issuedIn, sequence: buffer.sequence, n };
  };

  const queueBack = (buffer: VideoBuffer): void => {
    if (buffer.state !== 'dequeued' || queue.disconnected) return;
    if (random.chance(0.1)) {
      const fence = handle.qbuf(buffer.index, { outFence: true });
      track(
        fence.then(
          (done) => expect(done).toBe(buffer),
          (error: UvcError) => {
            expect(['EIO', 'ECANCELED', 'ENXIO']).toContain(error.code);
            expect(error.details['buffer']).toBe(buffer);
          },
        ),
      );
    } else {
      handle.qbuf(buffer.index);
    }
  };

  for (let i = 0; i < count; i++) handle.qbuf(i);
  await handle.streamon();
  streams.push(transport.current!);
  let blocking: Promise<unknown> | null = null;
  let starveSteps = 0;

  const abortAt: { step: number; controller: AbortController }[] = [];
  for (let step = 0; camera.framesGenerated < frames && !queue.disconnected; step++) {
    for (let i = abortAt.length - 1; i >= 0; i--) {
      if (abortAt[i]!.step <= step) abortAt.splice(i, 1)[0]!.controller.abort();
    }
    const usb = transport.current;
    if (usb !== null && queue.streaming) {
      if (random.chance(0.03)) usb.injectGap(random.int(1, 120));
      await usb.step();
    }
    queue.assertInvariants();
    onProgress(camera.framesGenerated);

    if (camera.framesGenerated >= unplugAt) {
      await transport.unplug(random.chance(0.5) ? 'transfers-first' : 'event-first');
      break;
    }

    // The consumer.
    if (starveSteps > 0) starveSteps--;
    else if (random.chance(0.005)) starveSteps = random.int(5, 40);
    if (queue.streaming && blocking === null && random.chance(0.2)) {
      const issuedIn = session;
      // Some waits are given up after a few steps (an AbortSignal: timers would make the run depend on the
      // machine's speed, and a failure must replay from the seed).
      let options = {};
      if (random.chance(0.3)) {
        const controller = new AbortController();
        abortAt.push({ step: step + random.int(0, 5), controller });
        options = { signal: controller.signal };
      }
      const waiting = handle.dqbuf(options).then(
        (buffer) => {
          judgeFrame(buffer, issuedIn);
          held.push(buffer);
        },
        (error: UvcError) => expect(['EINVAL', 'ENXIO', 'ECANCELED']).toContain(error.code),
      );
      blocking = waiting;
      track(waiting.then(() => (blocking = null)));
    } else if (random.chance(0.8)) {
      // Take what is ready (usually everything, sometimes just one).
      const all = random.chance(0.8);
      while (queue.doneCount > 0) {
        const issuedIn = session;
        const buffer = await handle.dqbuf({ nonblock: true });
        judgeFrame(buffer, issuedIn);
        held.push(buffer);
        if (!all) break;
      }
    }
    if (starveSteps === 0) {
      for (let i = held.length - 1; i >= 0; i--) {
        if (random.chance(0.8)) queueBack(held.splice(i, 1)[0]!);
      }
    }

    // streamoff / streamon cycles, sometimes without waiting for the stop.
    if (random.chance(0.004)) {
      judge.cycles++;
      const stopping = handle.streamoff();
      for (const buffer of queue.buffers()) expect(buffer.state).toBe('dequeued');
      // A dqbuf that got its buffer just before the streamoff hands it over now; it is ours only then.
      if (blocking !== null) await blocking;
      held.length = 0;
      session++;
      if (random.chance(0.5)) await stopping;
      else track(stopping);
      for (let i = 0; i < count; i++) if (random.chance(0.8)) queueBack(queue.buffers()[i]!);
      await handle.streamon();
      streams.push(transport.current!);
    }
    await Promise.resolve();
    if (random.chance(0.05)) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  if (queue.disconnected) {
    judge.disconnects++;
    expect(disconnectCalls).toBe(1);
    // The remaining done buffers come out, then ENXIO at once.
    for (;;) {
      try {
        const buffer = await handle.dqbuf();
        judgeFrame(buffer, session);
      } catch (error) {
        expect(isUvcError(error, 'ENXIO')).toBe(true);
        break;
      }
    }
    expect(() => handle.qbuf(0)).toThrow(expect.objectContaining({ code: 'ENXIO' }));
  } else {
    await handle.streamoff();
    for (const buffer of queue.buffers()) expect(buffer.state).toBe('dequeued');
  }
  // No waiter hangs, no fence is left pending.
  for (let i = 0; i < 5 && pending.size > 0; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  expect(pending.size).toBe(0);
  expect(handle.reqbufs(0)).toBe(0);
  await handle.close();
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  queue.assertInvariants();
  expect(stream.running).toBe(false);
  expect(transport.current).toBeNull();
  expect(transport.listenerCount('disconnect')).toBe(0);
  for (const usb of streams) {
    expect(usb.stopped).toBe(true);
    expect(usb.heldCount).toBe(0);
    expect(usb.strayReleases).toBe(0);
  }
  // The injected gaps are bus time lost while JavaScript held every transfer: each is said once (ENOBUFS).
  expect(errors.filter((e) => !isUvcError(e, 'ENOBUFS'))).toEqual([]);
  expect(errors.every((e) => (e.details as { lostIntervals?: number }).lostIntervals! > 0)).toBe(true);
  if (process.env['STRESS_VERBOSE']) console.log('LIFE', JSON.stringify({ ...spec, faults: 0 }), JSON.stringify(stream.stats), 'gen', camera.framesGenerated, 'good', judge.goodFrames, 'err', judge.errorFrames);
  expect(disconnectCalls).toBe(queue.disconnected ? 1 : 0);
  return camera.framesGenerated;
}

/** Wraps the camera's bus side to log each packet or transfer; a run of missed intervals is one line. */
function traceCamera(camera: SyntheticCamera, log: (line: string) => void): void {
  let missing = false;
  const note = (line: string): void => {
    missing = false;
    log(line);
  };
  const bulk = camera.bulkChunk.bind(camera);
  camera.bulkChunk = (into, capacity) => {
    const length = bulk(into, capacity);
    note(`bulk ${length} bytes, starting ${into[0]!.toString(16)} ${into[1]!.toString(16)} (camera at frame ${camera.framesGenerated})`);
    return length;
  };
  const iso = camera.isoPacket.bind(camera);
  camera.isoPacket = (into, offset, capacity) => {
    const length = iso(into, offset, capacity);
    note(`iso ${length} bytes, info ${length >= 2 ? into[offset + 1]!.toString(16) : '-'} (camera at frame ${camera.framesGenerated})`);
    return length;
  };
  const missed = camera.isoMissed.bind(camera);
  camera.isoMissed = () => {
    missed();
    if (!missing) note('intervals missed (no transfer in flight)');
    missing = true;
  };
}

async function stress(transfer: 'iso' | 'bulk', seed: number): Promise<Judge> {
  const random = new Random(seed);
  const judge: Judge = { goodFrames: 0, unprovenGapDamage: 0, errorFrames: 0, checkedGaps: 0, exactGaps: 0, cycles: 0, disconnects: 0, lives: 0 };
  // Every format × framing combination, in a random order: each life takes the next one.
  const combos: [Kind, Framing][] = [];
  for (const kind of ['uncompressed', 'mjpeg', 'h264'] as Kind[]) for (const framing of ['standard', 'no-eof', 'no-fid', 'late-fid'] as Framing[]) combos.push([kind, framing]);
  for (let i = combos.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [combos[i], combos[j]] = [combos[j]!, combos[i]!];
  }
  let generated = 0;
  let heapAt2000 = 0;
  // The first life ends with an unplug at a random point; later lives, until 10 000 frames, with a close or
  // another unplug. Heap is measured (after GC) when 2 000 frames have passed and at the end.
  let unplug = true;
  while (generated < TOTAL_FRAMES) {
    const frames = Math.min(TOTAL_FRAMES - generated, random.int(600, 1200));
    const before = generated;
    const [kind, framing] = combos[judge.lives % combos.length]!;
    generated += await runLife(random, transfer, kind, framing, frames, unplug, judge, (inLife) => {
      if (heapAt2000 === 0 && before + inLife >= 2000) heapAt2000 = heapAfterGc();
    });
    unplug = random.chance(0.3);
  }
  const heapAtEnd = heapAfterGc();
  if (process.env['STRESS_VERBOSE']) console.log('STRESS', transfer, JSON.stringify(judge), 'heap', heapAt2000, heapAtEnd);
  expect(heapAt2000).toBeGreaterThan(0);
  // Generous: a leak of a few hundred bytes per frame would already double it.
  expect(heapAtEnd / heapAt2000).toBeLessThan(1.5);
  expect(judge.disconnects).toBeGreaterThanOrEqual(1);
  expect(judge.goodFrames).toBeGreaterThan(TOTAL_FRAMES * 0.3);
  expect(judge.unprovenGapDamage).toBeLessThan(judge.goodFrames * 0.05);
  expect(judge.errorFrames).toBeGreaterThan(0);
  expect(judge.cycles).toBeGreaterThan(0);
  expect(judge.checkedGaps).toBeGreaterThan(1000);
  expect(judge.lives).toBeGreaterThanOrEqual(8);
  return judge;
}

describe('randomized fault stress', () => {
  // STRESS_SEED replays or explores other runs; every run is deterministic for its seed.
  const seed = Number(process.env['STRESS_SEED'] ?? 0);
  it('iso: 10 000 frames with faults, cycles and an unplug', async () => {
    await stress('iso', 0x15015 + seed);
  }, 180_000);

  it('bulk: 10 000 frames with faults, cycles and an unplug', async () => {
    await stress('bulk', 0xb01c + seed);
  }, 180_000);
});
