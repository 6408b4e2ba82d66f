import { describe, expect, it } from 'vitest';
import { TransferStatus } from '../../src/transport/usb-transport.js';
import type { FrameAssemblerOptions } from '../../src/stream/frame-assembler.js';
import { assemblerRig } from './helpers/assembler-rig.js';
import { concat, header, isoTransfer, pattern, type HeaderSpec, type IsoPacket } from './helpers/transfers.js';

const STRIDE = 3072;
const INTERVAL = 125_000;
const HEADER = 12;
const DATA_PER_PACKET = STRIDE - HEADER;

function base(overrides: Partial<FrameAssemblerOptions> = {}): FrameAssemblerOptions {
  return { formatKind: 'uncompressed', transferType: 'iso', intervalNs: INTERVAL, ...overrides };
}

/** A 12-byte header (PTS + SCR, like most cameras) unless the spec says otherwise. */
function h(spec: HeaderSpec): Uint8Array {
  return header({ pts: 1000, scr: { stc: 2000, sof: 5 }, ...spec });
}

/** Cuts a frame's data into full packets; the last one carries EOF unless told otherwise. */
function framePackets(data: Uint8Array, fid: number, options: { eof?: boolean; headerFor?: (i: number, last: boolean) => HeaderSpec } = {}): IsoPacket[] {
  const packets: IsoPacket[] = [];
  const count = Math.ceil(data.length / DATA_PER_PACKET);
  for (let i = 0; i < count; i++) {
    const last = i === count - 1;
    const spec: HeaderSpec = { fid, eof: last && options.eof !== false, ...options.headerFor?.(i, last) };
    packets.push({ bytes: concat(h(spec), data.subarray(i * DATA_PER_PACKET, (i + 1) * DATA_PER_PACKET)) });
  }
  return packets;
}

function idle(fid: number, count: number, eof = false): IsoPacket[] {
  return Array.from({ length: count }, () => ({ bytes: h({ fid, eof }) }));
}

/** Splits packets into transfers of `perTransfer`, timed back to back from `startNs`. */
function transfers(packets: IsoPacket[], perTransfer = 32, startNs = 1_000_000_000) {
  const out = [];
  for (let at = 0, slot = 0; at < packets.length; at += perTransfer, slot++) {
    const chunk = packets.slice(at, at + perTransfer);
    out.push(isoTransfer(chunk, { stride: STRIDE, slot: slot % 5, completedAtNs: startNs + (at + chunk.length) * INTERVAL }));
  }
  return out;
}

const SIZE = DATA_PER_PACKET * 3 + 100; // 4 packets per frame

/** A JPEG as far as assembly can tell: SOI, `length` bytes, EOI. */
function jpegOf(length: number, seed: number): Uint8Array {
  return concat(Uint8Array.of(0xff, 0xd8), pattern(length, seed), Uint8Array.of(0xff, 0xd9));
}

describe('iso assembly: standard cameras', () => {
  it('numbers the first frame 0 whatever FID the idle packets before it carry', async () => {
    for (const idleFid of [0, 1]) {
      const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
      const packets = [...idle(idleFid, 6), ...framePackets(pattern(SIZE, 1), 0), ...idle(0, 2), ...framePackets(pattern(SIZE, 2), 1)];
      rig.feed(...transfers(packets, 5, 0));
      const frames = await rig.drain();
      expect(frames.map((f) => [f.sequence, f.bytesused, f.error])).toEqual([
        [0, SIZE, false],
        [1, SIZE, false],
      ]);
    }
  });

  it('assembles frames at the real packet stride, byte exact, timestamped at their first packet', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
    const f0 = pattern(SIZE, 1);
    const f1 = pattern(SIZE, 2);
    const packets = [...framePackets(f0, 0), ...idle(1, 3), ...framePackets(f1, 1), ...idle(0, 2)];
    rig.feed(...transfers(packets, 5, 0));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.bytesused, f.error, f.keyframe])).toEqual([
      [0, SIZE, false, true],
      [1, SIZE, false, true],
    ]);
    expect(frames[0]!.data).toEqual(f0);
    expect(frames[1]!.data).toEqual(f1);
    // Packet i of the stream completed at (i + 1) × interval in these transfers: frame 0 starts at packet 0,
    // frame 1 at packet 4 (the first idle packet with FID 1).
    expect(frames[0]!.timestamp).toBe(1 * INTERVAL);
    expect(frames[1]!.timestamp).toBe(5 * INTERVAL);
    expect(rig.assembler.stats).toMatchObject({ frames: 2, erroredFrames: 0, bytes: 2 * SIZE, invalidHeaders: 0 });
  });

  it('skips empty packets and header-only packets, and ignores EOF on a frame that has no data yet', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
    const f0 = pattern(SIZE, 3);
    const packets: IsoPacket[] = [{}, ...idle(0, 2, true), {}, ...framePackets(f0, 0), {}];
    rig.feed(...transfers(packets, 3));
    const frames = await rig.drain();
    expect(frames).toHaveLength(1);
    expect(frames[0]!.data).toEqual(f0);
    expect(frames[0]!.error).toBe(false);
  });

  it('tolerates the RES and STI bits', async () => {
    const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 8192 });
    const jpeg = concat(Uint8Array.of(0xff, 0xd8), pattern(500, 4), Uint8Array.of(0xff, 0xd9));
    rig.feed(isoTransfer([{ bytes: concat(h({ fid: 1, eof: true, extraInfo: 0x30 }), jpeg) }], { stride: STRIDE }));
    const frames = await rig.drain();
    expect(frames).toHaveLength(1);
    expect(frames[0]!.error).toBe(false);
    expect(frames[0]!.data).toEqual(jpeg);
  });

  it('counts every frame boundary in sequence, also frames dropped because no buffer was queued', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE, buffers: 1 });
    const packets = [0, 1, 2, 3].flatMap((n) => framePackets(pattern(SIZE, n), n & 1));
    // Only one buffer: frame 0 takes it; frames 1-3 find none until we queue it again after frame 2.
    rig.feed(...transfers(packets.slice(0, 12), 4));
    const first = await rig.drain(); // re-queues the buffer
    rig.feed(...transfers(packets.slice(12), 4));
    const later = await rig.drain();
    expect(first.map((f) => f.sequence)).toEqual([0]);
    expect(later.map((f) => f.sequence)).toEqual([3]);
    expect(later[0]!.data).toEqual(pattern(SIZE, 3));
    expect(rig.assembler.stats.droppedFrames).toBe(2);
  });
});

describe('iso assembly: cameras that bend the framing rules', () => {
  it('without EOF: a frame ends when FID toggles', async () => {
    const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 64 * 1024 });
    const jpegs = [5, 6, 7].map((seed) => jpegOf(7000, seed));
    const packets = jpegs.flatMap((jpeg, n) => framePackets(jpeg, n & 1, { eof: false }));
    rig.feed(...transfers(packets, 4));
    const frames = await rig.drain();
    // The last frame stays open: nothing has ended it yet.
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      [0, false],
      [1, false],
    ]);
    expect(frames[0]!.data).toEqual(jpegs[0]);
    expect(frames[1]!.data).toEqual(jpegs[1]);
  });

  it('without FID toggling: frames end at EOF and the next data begins a new one', async () => {
    const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 64 * 1024 });
    const jpegs = [8, 9, 10].map((seed) => jpegOf(5000 + seed, seed));
    const packets = jpegs.flatMap((jpeg) => [...framePackets(jpeg, 0), ...idle(0, 2)]);
    rig.feed(...transfers(packets, 7));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      [0, false],
      [1, false],
      [2, false],
    ]);
    frames.forEach((f, n) => expect(f.data).toEqual(jpegs[n]));
    expect(rig.assembler.stats.outOfSyncPayloads).toBe(0);
  });

  it('uncompressed without FID toggling and without EOF: frames end at the exact frame size', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
    const packets = [0, 1, 2].flatMap((n) => framePackets(pattern(SIZE, 20 + n), 0, { eof: false }));
    rig.feed(...transfers(packets, 5));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error, f.bytesused])).toEqual([
      [0, false, SIZE],
      [1, false, SIZE],
      [2, false, SIZE],
    ]);
    frames.forEach((f, n) => expect(f.data).toEqual(pattern(SIZE, 20 + n)));
  });

  it('last packet of a frame sent with the next FID (MJPEG with EOF): the packet still belongs to its frame', async () => {
    const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 64 * 1024 });
    const jpegs = [11, 12, 13].map((seed) => concat(Uint8Array.of(0xff, 0xd8), pattern(9000, seed), Uint8Array.of(0xff, 0xd9)));
    // Frame n is sent with FID n&1, except its last packet, which already has the next FID.
    const packets = jpegs.flatMap((jpeg, n) =>
      framePackets(jpeg, n & 1, { headerFor: (_i, last) => (last ? { fid: (n + 1) & 1 } : {}) }),
    );
    rig.feed(...transfers(packets, 3));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      [0, false],
      [1, false],
      [2, false],
    ]);
    frames.forEach((f, n) => expect(f.data).toEqual(jpegs[n]));
  });

  it('last packet with the next FID, uncompressed and without EOF: the packet that completes the frame exactly is its tail', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
    const packets = [0, 1, 2].flatMap((n) =>
      framePackets(pattern(SIZE, 30 + n), n & 1, { eof: false, headerFor: (_i, last) => (last ? { fid: (n + 1) & 1 } : {}) }),
    );
    rig.feed(...transfers(packets, 6));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      [0, false],
      [1, false],
      [2, false],
    ]);
    frames.forEach((f, n) => expect(f.data).toEqual(pattern(SIZE, 30 + n)));
  });

  it('a camera that toggles FID drops stray data after EOF with the old FID', async () => {
    const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 64 * 1024 });
    const jpeg = (seed: number) => jpegOf(4000, seed);
    const stray = { bytes: concat(h({ fid: 1 }), pattern(100, 99)) };
    const packets = [...framePackets(jpeg(1), 0), ...framePackets(jpeg(2), 1), stray, ...framePackets(jpeg(3), 0)];
    rig.feed(...transfers(packets, 4));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      [0, false],
      [1, false],
      [2, false],
    ]);
    expect(frames[2]!.data).toEqual(jpeg(3));
    expect(rig.assembler.stats.outOfSyncPayloads).toBe(1);
  });
});

describe('iso assembly: errors', () => {
  it('flags a frame whose payload has the ERR bit', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
    const packets = [
      ...framePackets(pattern(SIZE, 1), 0, { headerFor: (i) => (i === 1 ? { err: true } : {}) }),
      ...framePackets(pattern(SIZE, 2), 1),
    ];
    rig.feed(...transfers(packets));
    const frames = await rig.drain();
    expect(frames.map((f) => f.error)).toEqual([true, false]);
    expect(frames[0]!.data).toEqual(pattern(SIZE, 1)); // the data is all there, the camera said it is bad
    expect(rig.assembler.stats.errorBits).toBe(1);
  });

  it('flags a frame that lost a packet (iso packet status error)', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
    const f0 = framePackets(pattern(SIZE, 1), 0);
    f0[2] = { status: TransferStatus.ERROR };
    const packets = [...f0, ...framePackets(pattern(SIZE, 2), 1), ...idle(0, 1)];
    rig.feed(...transfers(packets));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.error, f.bytesused])).toEqual([
      [true, SIZE - DATA_PER_PACKET],
      [false, SIZE],
    ]);
    expect(rig.assembler.stats.lostPackets).toBe(1);
  });

  it('a packet lost between two frames: each is judged by its start and end marks', async () => {
    const jpeg = (seed: number) => jpegOf(4000, seed);
    const run = async (lost: IsoPacket[]) => {
      const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 64 * 1024 });
      // No EOF: frame 0 ends at the toggle, so it is still open when the packet is lost: that packet may be
      // its tail, but its data already ends with EOI. Frame 1 begins at the toggle: if the lost packet was its
      // head, its SOI is missing.
      const packets = [
        ...framePackets(jpeg(1), 0, { eof: false }),
        ...lost,
        ...framePackets(jpeg(2), 1, { eof: false }),
        ...framePackets(jpeg(3), 0, { eof: false }),
        ...idle(1, 1),
      ];
      rig.feed(...transfers(packets));
      return (await rig.drain()).map((f) => f.error);
    };
    // A packet lost between them: frame 0 ends with EOI before the loss, frame 1 has its SOI and EOI.
    expect(await run([{ status: TransferStatus.ERROR }])).toEqual([false, false, false]);
    // A packet of frame 0's lost: what follows the loss in it, and its end, give it away.
    const cut = await (async () => {
      const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 64 * 1024 });
      const first = framePackets(jpeg(1), 0, { eof: false });
      first[0 + 1] = { status: TransferStatus.ERROR };
      rig.feed(...transfers([...first, ...framePackets(jpeg(2), 1, { eof: false }), ...framePackets(jpeg(3), 0, { eof: false }), ...idle(1, 1)]));
      return (await rig.drain()).map((f) => f.error);
    })();
    expect(cut).toEqual([true, false, false]);
    // Frame 1's first packet lost: it begins without SOI.
    const withoutHead = await (async () => {
      const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 64 * 1024 });
      const second = framePackets(jpeg(2), 1, { eof: false });
      second[0] = { status: TransferStatus.ERROR };
      rig.feed(...transfers([...framePackets(jpeg(1), 0, { eof: false }), ...second, ...framePackets(jpeg(3), 0, { eof: false }), ...idle(1, 1)]));
      return (await rig.drain()).map((f) => f.error);
    })();
    expect(withoutHead).toEqual([false, true, false]);
  });

  /** Frames of 4 data + 4 idle packets whose headers carry an SCR with the SOF of the packet's bus frame. */
  const timedFrames = (count: number) => {
    const packets: IsoPacket[] = [];
    for (let n = 0; n < count; n++) {
      const data = framePackets(pattern(SIZE, n), n & 1).map((p) => p.bytes!.subarray(HEADER));
      const headers = [...data.map((_, i) => ({ fid: n & 1, eof: i === data.length - 1 })), ...Array.from({ length: 4 }, () => ({ fid: (n + 1) & 1 }))];
      headers.forEach((spec, i) => {
        const at = packets.length;
        const head = header({ ...spec, pts: n * 1000, scr: { stc: at * 6000, sof: (at >> 3) & 0x7ff } });
        packets.push({ bytes: i < data.length ? concat(head, data[i]!) : head });
      });
    }
    return packets;
  };

  it('a gap the SOF counter shows: the frames it cut are flagged, sequence counts the frames it swallowed', async () => {
    const frameIntervalNs = 8 * INTERVAL;
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE, frameIntervalNs }), { bufferSize: SIZE, buffers: 16 });
    // Transfers of 8 packets (one frame each); the bus ran on for 24 intervals (frames 10, 11, 12) with no
    // transfer in flight, and the SOF in the next header shows it.
    const chunks = transfers(timedFrames(16), 8);
    const delivered = [...chunks.slice(0, 10), ...chunks.slice(13)];
    delivered[10]!.lostIntervals = 24;
    rig.feed(...delivered);
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      ...Array.from({ length: 10 }, (_, n) => [n, false]),
      // Frame 13 begins with a FID change right after the gap and has its exact size: nothing of it was lost.
      [13, false],
      [14, false],
      [15, false],
    ]);
    expect(frames[10]!.data).toEqual(pattern(SIZE, 13));
    expect(rig.assembler.stats).toMatchObject({ lostIntervals: 24, busGapIntervals: 24, droppedFrames: 3, sofMode: 'consistent' });
  });

  it('host-clock gaps alone (USB/IP, late completions) flag nothing and leave sequence alone: they are only counted', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE, frameIntervalNs: 8 * INTERVAL, bus: 'usbip' }), { bufferSize: SIZE, buffers: 16 });
    const chunks = transfers(timedFrames(16), 8);
    // Every packet arrives, but the host's clock saw no transfer in flight before some of them.
    chunks[4]!.lostIntervals = 30;
    chunks[11]!.lostIntervals = 200;
    rig.feed(...chunks);
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual(Array.from({ length: 16 }, (_, n) => [n, false]));
    expect(rig.assembler.stats).toMatchObject({ lostIntervals: 230, busGapIntervals: 0, droppedFrames: 0, erroredFrames: 0, bus: 'usbip' });
  });

  it('a host-clock gap before the camera\'s first payload flags nothing: no header has yet said whether it has a SOF', async () => {
    // Seen in the fault matrix under load: the first completion of a stream came back with bus intervals the host
    // counted before it, and the first frame was flagged though the camera sent it whole (its SCR came after).
    for (const fidToggles of [true, false]) {
      const rig = await assemblerRig(base({ expectedFrameSize: SIZE, frameIntervalNs: 8 * INTERVAL }), { bufferSize: SIZE, buffers: 16 });
      const packets = timedFrames(6).map((p) => (fidToggles ? p : { bytes: withFid(p.bytes!, 0) }));
      const chunks = transfers(packets, 8);
      chunks[0]!.lostIntervals = 5;
      rig.feed(...chunks);
      const frames = await rig.drain();
      expect(frames.map((f) => [f.sequence, f.error]), `FID toggles: ${fidToggles}`).toEqual(Array.from({ length: 6 }, (_, n) => [n, false]));
      expect(rig.assembler.stats).toMatchObject({ lostIntervals: 5, busGapIntervals: 0, erroredFrames: 0 });
    }
  });

  it('a short gap the SOF counter cannot show: frames are judged by their sizes', async () => {
    const frames = timedFrames(12);
    const run = async (gapStart: number, gapEnd: number) => {
      const rig = await assemblerRig(base({ expectedFrameSize: SIZE, frameIntervalNs: 8 * INTERVAL }), { bufferSize: SIZE, buffers: 16 });
      const before = transfers(frames.slice(0, gapStart), 40);
      const after = transfers(frames.slice(gapEnd), 40);
      after[0]!.lostIntervals = gapEnd - gapStart;
      rig.feed(...before, ...after);
      return (await rig.drain()).map((f) => [f.sequence, f.error]);
    };
    const all = (flagged: number | null) => Array.from({ length: 12 }, (_, n) => [n, n === flagged]);
    // Frame 7 ended (EOF seen) and the gap took some of the idle payloads after it.
    expect(await run(61, 63)).toEqual(all(null));
    // The gap ends right at frame 8's start: it begins with its FID change and has its exact size.
    expect(await run(61, 64)).toEqual(all(null));
    // The gap took the end of frame 7: it is short.
    expect(await run(58, 61)).toEqual(all(7));
  });

  it('a frame after lost packets is trusted when its start is seen and only then', async () => {
    // Idle payloads carry the FID of the frame just ended (most cameras); 4 data + 4 idle packets per frame.
    const frame = (n: number) => [...framePackets(pattern(SIZE, n), n & 1), ...idle(n & 1, 4)];
    const all = Array.from({ length: 6 }, (_, n) => frame(n)).flat();
    const run = async (lostFrom: number, lostTo: number) => {
      const rig = await assemblerRig(base({ expectedFrameSize: SIZE, frameIntervalNs: 8 * INTERVAL }), { bufferSize: SIZE, buffers: 8 });
      const packets: IsoPacket[] = all.map((p, i) => (i >= lostFrom && i < lostTo ? { status: TransferStatus.ERROR } : p));
      rig.feed(...transfers(packets, 40));
      return (await rig.drain()).map((f) => [f.sequence, f.error]);
    };
    // Frame 1 ended (EOF seen), idle payloads after it were lost: frame 2 begins with a new FID, whole.
    expect(await run(13, 15)).toEqual([[0, false], [1, false], [2, false], [3, false], [4, false], [5, false]]);
    // Lost up to frame 2's first packet: frame 2 begins with its FID change and has its exact size.
    expect(await run(13, 16)).toEqual([[0, false], [1, false], [2, false], [3, false], [4, false], [5, false]]);
    // Lost into frame 2's data: it is short.
    expect(await run(13, 17)).toEqual([[0, false], [1, false], [2, true], [3, false], [4, false], [5, false]]);
    // The end of frame 1 lost (its EOF with it): frame 1 is flagged, frame 2 after it is not.
    expect(await run(10, 13)).toEqual([[0, false], [1, true], [2, false], [3, false], [4, false], [5, false]]);
  });

  it('an overflow fills the buffer, flags the frame and ignores the rest of it', async () => {
    const small = DATA_PER_PACKET * 2;
    const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: small });
    const big = jpegOf(DATA_PER_PACKET * 3, 5);
    const ok = jpegOf(DATA_PER_PACKET - 4, 6);
    rig.feed(...transfers([...framePackets(big, 0), ...framePackets(ok, 1), ...idle(0, 1)]));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error, f.bytesused])).toEqual([
      [0, true, small],
      [1, false, ok.length],
    ]);
    expect(frames[0]!.data).toEqual(big.subarray(0, small));
    expect(rig.assembler.stats.overflows).toBe(1);
  });

  it('flags a short uncompressed frame', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
    const short = pattern(SIZE - 1000, 1);
    rig.feed(...transfers([...framePackets(short, 0), ...framePackets(pattern(SIZE, 2), 1)]));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.error, f.bytesused])).toEqual([
      [true, SIZE - 1000],
      [false, SIZE],
    ]);
    expect(rig.assembler.stats.sizeMismatches).toBe(1);
  });

  it('flags an MJPEG frame that does not start with SOI (joined mid-frame)', async () => {
    const rig = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 64 * 1024 });
    const tail = pattern(3000, 7);
    const jpeg = jpegOf(3000, 8);
    rig.feed(...transfers([...framePackets(tail, 0), ...framePackets(jpeg, 1)]));
    const frames = await rig.drain();
    expect(frames.map((f) => f.error)).toEqual([true, false]);
  });

  it('drops invalid headers, counts them, and flags their frame', async () => {
    const bad: Uint8Array[] = [
      Uint8Array.of(1, 0x80), // bHeaderLength < 2
      Uint8Array.of(0x40, 0x80, 1, 2), // longer than the packet
      concat(Uint8Array.of(13, 0x80), new Uint8Array(20)), // above 12
      Uint8Array.of(6, 0x8c, 0, 0, 0, 0), // PTS + SCR announced, 6 bytes
      concat(Uint8Array.of(12, 0x00), new Uint8Array(20)), // no EOH and 12 bytes for a 2-byte header
      Uint8Array.of(7), // a 1-byte packet
    ];
    for (const broken of bad) {
      const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE });
      const f0 = framePackets(pattern(SIZE, 1), 0);
      f0.splice(2, 0, { bytes: broken });
      rig.feed(...transfers([...f0, ...framePackets(pattern(SIZE, 2), 1)]));
      const frames = await rig.drain();
      expect(frames.map((f) => [f.error, f.bytesused]), `header ${Array.from(broken.subarray(0, 2))}`).toEqual([
        [true, SIZE],
        [false, SIZE],
      ]);
      expect(rig.assembler.stats.invalidHeaders).toBe(1);
    }
  });

  it('accepts a header without EOH when its length is exactly what its PTS/SCR bits say, unless EOH is required', async () => {
    const noEoh = (fid: number, eof: boolean) => header({ fid, eof, pts: 1, scr: { stc: 1, sof: 1 }, eoh: false });
    const packets = [{ bytes: concat(noEoh(0, true), Uint8Array.of(0xff, 0xd8, 1, 2)) }, { bytes: concat(noEoh(1, true), Uint8Array.of(0xff, 0xd8, 3)) }];
    const tolerant = await assemblerRig(base({ formatKind: 'mjpeg' }), { bufferSize: 1024 });
    tolerant.feed(...transfers(packets));
    expect((await tolerant.drain()).map((f) => f.bytesused)).toEqual([4, 3]);
    const strict = await assemblerRig(base({ formatKind: 'mjpeg', requireEoh: true }), { bufferSize: 1024 });
    strict.feed(...transfers(packets));
    expect(await strict.drain()).toEqual([]);
    expect(strict.assembler.stats.invalidHeaders).toBe(2);
  });

  it('drops errored frames instead of returning them when asked, and reuses their buffer', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE, dropErroredFrames: true }), { bufferSize: SIZE, buffers: 1 });
    const packets = [
      ...framePackets(pattern(SIZE, 1), 0, { headerFor: (i) => (i === 0 ? { err: true } : {}) }),
      ...framePackets(pattern(SIZE, 2), 1),
    ];
    rig.feed(...transfers(packets));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([[1, false]]);
    expect(frames[0]!.data).toEqual(pattern(SIZE, 2));
    expect(rig.assembler.stats).toMatchObject({ erroredFrames: 1, discardedFrames: 1, droppedFrames: 0 });
  });

  it('a failed iso transfer counts as lost bus time; a cancelled one is ignored', async () => {
    const frameIntervalNs = 8 * INTERVAL;
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE, frameIntervalNs }), { bufferSize: SIZE });
    const frame = (n: number) => [...framePackets(pattern(SIZE, n), n & 1), ...idle((n + 1) & 1, 4)];
    const chunks = transfers([0, 1, 2, 3].flatMap(frame), 8);
    chunks[1]!.status = TransferStatus.ERROR;
    const cancelled = isoTransfer(framePackets(pattern(SIZE, 9), 1), { stride: STRIDE, status: TransferStatus.CANCELLED });
    rig.feed(chunks[0]!, cancelled, chunks[1]!, chunks[2]!, chunks[3]!);
    const frames = await rig.drain();
    // Frame 1 went with the failed transfer (sequence counts it); frame 2 begins with its FID change right
    // after it and has its exact size: nothing of it was lost.
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([
      [0, false],
      [2, false],
      [3, false],
    ]);
    expect(frames[1]!.data).toEqual(pattern(SIZE, 2));
    expect(rig.assembler.stats.lostPackets).toBe(8);
  });
});

describe('iso assembly and the queue', () => {
  it('stops writing into a buffer the queue took back mid-frame, and continues with new buffers after streamon', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE, buffers: 2 });
    const f0 = framePackets(pattern(SIZE, 1), 0);
    rig.feed(...transfers(f0.slice(0, 2)));
    const taken = rig.queue.buffers()[0]!;
    expect(taken.state).toBe('active');
    await rig.handle.streamoff();
    taken.memory.fill(0xee); // the user owns it now
    rig.feed(...transfers(f0.slice(2)));
    expect(taken.memory.every((b) => b === 0xee)).toBe(true);
    rig.handle.qbuf(0);
    rig.handle.qbuf(1);
    await rig.handle.streamon();
    rig.assembler.reset();
    rig.feed(...transfers([...framePackets(pattern(SIZE, 2), 1), ...idle(0, 1)]));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.sequence, f.error])).toEqual([[0, false]]);
    expect(frames[0]!.data).toEqual(pattern(SIZE, 2));
  });

  it('abandon() gives a half-filled buffer back to the head of the queue', async () => {
    const rig = await assemblerRig(base({ expectedFrameSize: SIZE }), { bufferSize: SIZE, buffers: 2 });
    rig.feed(...transfers(framePackets(pattern(SIZE, 1), 0).slice(0, 2)));
    const active = rig.queue.buffers()[0]!;
    expect(active.state).toBe('active');
    rig.assembler.abandon();
    expect(active.state).toBe('queued');
    expect(rig.queue.nextBuffer()).toBe(active);
  });
});

describe('keyframes', () => {
  const idr = concat(Uint8Array.of(0, 0, 0, 1, 0x67, 1, 2, 3, 0, 0, 0, 1, 0x68, 4, 0, 0, 1, 0x65), pattern(2000, 1));
  const nonIdr = concat(Uint8Array.of(0, 0, 0, 1, 0x09, 0x10, 0, 0, 0, 1, 0x41), pattern(2000, 2));

  it('marks H.264 access units whose first slice is IDR', async () => {
    const rig = await assemblerRig(base({ formatKind: 'h264' }), { bufferSize: 8192 });
    rig.feed(...transfers([...framePackets(idr, 0), ...framePackets(nonIdr, 1), ...framePackets(idr, 0)]));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.keyframe, f.error])).toEqual([
      [true, false],
      [false, false],
      [true, false],
    ]);
  });

  it('leaves the flag clear for other compressed formats', async () => {
    const rig = await assemblerRig(base({ formatKind: 'compressed' }), { bufferSize: 8192 });
    rig.feed(...transfers([...framePackets(idr, 0), ...framePackets(nonIdr, 1)]));
    expect((await rig.drain()).map((f) => f.keyframe)).toEqual([false, false]);
  });
});

/** The payload with its header's FID bit set to `fid` (a camera that never toggles it). */
function withFid(bytes: Uint8Array, fid: number): Uint8Array {
  const copy = bytes.slice();
  copy[1] = (copy[1]! & ~0x01) | fid;
  return copy;
}
