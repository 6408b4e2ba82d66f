/**
 * The benchmark harness's own correctness: the synthetic stream is what a camera sends, the project's assembler
 * turns it into exactly the frames it was built from, and the checks the benchmarks rely on (frame checks, copy
 * counting, the copy baseline) catch what they claim to catch. No timing here.
 */
import { describe, expect, it } from 'vitest';
import { AssemblyRig, FrameCheckError } from '../../bench/lib/assembly-rig.js';
import { countCopies } from '../../bench/lib/copy-counter.js';
import { buildSyntheticStream, checksum, HEADER_LENGTH, type SyntheticStreamSpec } from '../../bench/lib/synthetic-stream.js';
import { ScanField } from '../../src/stream/iso-scan.js';
import { parsePayloadHeader } from '../../src/stream/payload-header.js';
import { optionalAddon } from '../stream/helpers/optional-addon.js';

const YUYV_SIZE = 64 * 48 * 2;

function yuyvSpec(overrides: Partial<SyntheticStreamSpec> = {}): SyntheticStreamSpec {
  return {
    kind: 'uncompressed',
    frameSizes: [YUYV_SIZE, YUYV_SIZE, YUYV_SIZE, YUYV_SIZE],
    packetSize: 512,
    // 13 packets per transfer: transfers end in the middle of frames, as they do on a real stream.
    packetsPerTransfer: 13,
    intervalNs: 125_000,
    clockFrequency: 48_000_000,
    ...overrides,
  };
}

/** Every packet of the cycle, in bus order, parsed. */
function packets(spec: SyntheticStreamSpec) {
  const stream = buildSyntheticStream(spec);
  stream.advanceClock();
  const out = [];
  for (const transfer of stream.transfers) {
    for (let i = 0; i < transfer.packetCount; i++) {
      const at = i * transfer.packetStride;
      const bytes = transfer.buffer.subarray(at, at + transfer.packetLength[i]!);
      out.push({ header: parsePayloadHeader(bytes, { requireEoh: true }), data: bytes.subarray(HEADER_LENGTH) });
    }
  }
  return { stream, packets: out };
}

async function rig(spec: SyntheticStreamSpec) {
  const stream = buildSyntheticStream(spec);
  const bufferSize = Math.max(...spec.frameSizes);
  const assembly = await AssemblyRig.create(stream, {
    buffers: 4,
    bufferSize,
    expectedFrameSize: spec.kind === 'uncompressed' ? spec.frameSizes[0] : undefined,
  });
  return { stream, assembly };
}

describe('the synthetic stream', () => {
  it('lays out packets as a camera sends them: 12-byte headers with PTS and SCR, FID per frame, EOF on the last payload', () => {
    const { stream, packets: all } = packets(yuyvSpec({ idlePacketsPerFrame: 2 }));
    const perFrame = Math.ceil(YUYV_SIZE / (512 - HEADER_LENGTH));
    expect(stream.dataPackets).toBe(4 * perFrame);
    expect(stream.packets % 13).toBe(0);
    let frame = 0;
    let inFrame = 0;
    let offset = 0;
    for (const { header, data } of all) {
      expect(header.headerLength).toBe(12);
      expect(header.pts).toBeDefined();
      expect(header.scr).toBeDefined();
      if (data.length === 0) {
        // Idle packets carry the FID of the frame just sent and no EOF.
        expect(header.eof).toBe(false);
        continue;
      }
      if (inFrame === 0) offset = 0;
      expect(header.fid).toBe(frame & 1);
      expect(data).toEqual(stream.frames[frame]!.data.subarray(offset, offset + data.length));
      offset += data.length;
      inFrame++;
      const last = inFrame === perFrame;
      expect(header.eof).toBe(last);
      if (last) {
        expect(offset).toBe(YUYV_SIZE);
        frame++;
        inFrame = 0;
      }
    }
    expect(frame).toBe(4);
  });

  it('keeps the device clock running across cycles: SCR advances one bus interval per packet, PTS is the frame start', () => {
    const spec = yuyvSpec();
    const stream = buildSyntheticStream(spec);
    const stcOf = (cycle: number) => {
      while (stream.cycle <= cycle) stream.advanceClock();
      return parsePayloadHeader(stream.transfers[0]!.buffer.subarray(0, HEADER_LENGTH)).scr!.stc;
    };
    const first = stcOf(0);
    const second = stcOf(1);
    expect((second - first) >>> 0).toBe(stream.packets * 6000); // 48 MHz × 125 µs per packet
    const completions = stream.transfers.map((t) => t.completedAtNs);
    expect(completions.every((t, i) => i === 0 || t - completions[i - 1]! === 13 * 125_000)).toBe(true);
  });

  it('comes out of the FrameAssembler as exactly the frames it was built from, cycle after cycle, clock locked', async () => {
    const { stream, assembly } = await rig(yuyvSpec({ idlePacketsPerFrame: 3 }));
    // 250 ms of bus time before the clock recovery may lock: enough cycles to get there.
    const cycles = Math.ceil(300_000_000 / (stream.packets * 125_000)) + 1;
    for (let i = 0; i < cycles; i++) {
      stream.advanceClock();
      await assembly.runCycle('full');
    }
    expect(assembly.framesChecked).toBe(4 * cycles);
    expect(assembly.bytesDelivered).toBe(cycles * stream.payloadBytes);
    expect(assembly.stats).toMatchObject({ frames: 4 * cycles, erroredFrames: 0, droppedFrames: 0, invalidHeaders: 0 });
    expect(assembly.stats.deviceTimestamps).toBeGreaterThan(0);
    await assembly.close();
  });

  it('carries MJPEG frames of different sizes, the last packet of each short', async () => {
    const spec = yuyvSpec({ kind: 'mjpeg', frameSizes: [5000, 7001, 3333, 6500] });
    const { stream, assembly } = await rig(spec);
    expect(stream.frames.map((f) => [f.data[0], f.data[1]])).toEqual(Array(4).fill([0xff, 0xd8]));
    stream.advanceClock();
    await assembly.runCycle('full');
    expect(assembly.framesChecked).toBe(4);
    expect(assembly.stats.erroredFrames).toBe(0);
    await assembly.close();
  });
});

describe('the checks the benchmarks rely on', () => {
  it('a frame check fails when one payload byte is wrong', async () => {
    const { stream, assembly } = await rig(yuyvSpec());
    const victim = stream.slices[7]!.view;
    victim[5] = victim[5]! ^ 0xff;
    stream.advanceClock();
    await expect(assembly.runCycle('full')).rejects.toThrow(FrameCheckError);
    await assembly.close();
  });

  it('the spot check fails when a sampled byte is wrong', async () => {
    const { stream, assembly } = await rig(yuyvSpec());
    // The last byte of frame 0 is one of the sampled ones.
    const lastSlice = stream.slices.filter((s) => s.frame === 0).at(-1)!;
    lastSlice.view[lastSlice.view.length - 1] ^= 0x01;
    stream.advanceClock();
    await expect(assembly.runCycle('spot')).rejects.toThrow(/byte \d+ differs/);
    await assembly.close();
  });

  it('counts the assembler copying each payload byte exactly once, into the queue buffers', async () => {
    const { stream, assembly } = await rig(yuyvSpec({ idlePacketsPerFrame: 1 }));
    const { counts } = await countCopies(
      stream.transfers.map((t) => t.buffer.buffer),
      assembly.bufferMemories.map((m) => m.buffer),
      async () => {
        stream.advanceClock();
        await assembly.runCycle('full');
      },
    );
    expect(counts.fromSources).toBe(stream.payloadBytes);
    expect(counts.intoDestinations).toBe(stream.payloadBytes);
    expect(counts.fromSourcesElsewhere).toBe(0);
    await assembly.close();
  });

  it('in slot memory, handed over a frame at a time to the scan over slots, it still comes out whole, each byte copied once', async () => {
    const addon = optionalAddon();
    if (addon === null) {
      console.log('synthetic stream: the native addon does not load here: the scan over slots is not checked');
      return;
    }
    // Frames of about 3 transfers each (40 data packets).
    const size = 40 * (512 - HEADER_LENGTH);
    const spec = yuyvSpec({ idlePacketsPerFrame: 2, frameSizes: [size, size, size, size] });
    let made = 0;
    const memory = addon.slotMemory(64, spec.packetsPerTransfer, spec.packetSize);
    const stream = buildSyntheticStream({ ...spec, slotMemory: (transfers) => ((made = transfers), memory.slots) });
    expect(made).toBe(stream.transfers.length);
    expect(stream.transfers.every((t, i) => t.slot === i && t.buffer.buffer === memory.slots[0]!.buffer.buffer)).toBe(true);
    let calls = 0;
    let crossed = 0;
    const assembly = await AssemblyRig.create(stream, {
      buffers: 4,
      bufferSize: size,
      expectedFrameSize: size,
      copyRuns: addon.copyRuns,
      isoScan: addon.isoScan,
      slotScan: (slots, counts, into, block) => {
        calls++;
        const stop = memory.scanSlots(slots, counts, into, block);
        crossed += block[ScanField.RUN]! - (block[ScanField.RUN] === block[ScanField.RUN_LENGTH] ? 1 : 0);
        return stop;
      },
    });
    const { counts } = await countCopies(
      stream.transfers.map((t) => t.buffer.buffer),
      assembly.bufferMemories.map((m) => m.buffer),
      async () => {
        for (let i = 0; i < 3; i++) {
          stream.advanceClock();
          await assembly.runCycle('full');
        }
      },
      [assembly.copier],
    );
    expect(assembly.framesChecked).toBe(12);
    expect(assembly.stats).toMatchObject({ frames: 12, erroredFrames: 0, droppedFrames: 0, invalidHeaders: 0 });
    expect(counts.fromSources).toBe(3 * stream.payloadBytes);
    expect(counts.intoDestinations).toBe(3 * stream.payloadBytes);
    expect(counts.fromSourcesElsewhere).toBe(0);
    // The scan went from transfer to transfer: fewer calls than transfers.
    expect(crossed).toBeGreaterThan(0);
    expect(calls).toBeLessThan(3 * stream.transfers.length);
    await assembly.close();
  });

  it('catches a second copy of transfer memory, by set or by slice', async () => {
    const source = new Uint8Array(1000);
    const destination = new Uint8Array(1000);
    const elsewhere = new Uint8Array(1000);
    const { counts } = await countCopies([source.buffer], [destination.buffer], async () => {
      destination.set(source.subarray(0, 600));
      elsewhere.set(source.subarray(600, 700));
      source.slice(0, 50);
    });
    expect(counts).toMatchObject({ fromSources: 750, intoDestinations: 600, fromSourcesElsewhere: 150 });
    // The prototype is restored afterwards.
    expect(Object.prototype.hasOwnProperty.call(Uint8Array.prototype, 'set')).toBe(false);
  });

  it('the memcpy baseline copies the same bytes into the same buffers as the assembler', async () => {
    const spec = yuyvSpec({ frameSizes: Array(8).fill(YUYV_SIZE) });
    const { stream, assembly } = await rig(spec);
    assembly.copySlices();
    // Frames 4…7 were the last to land in buffers 0…3.
    assembly.bufferMemories.forEach((memory, i) => expect(checksum(memory, YUYV_SIZE)).toBe(stream.frames[4 + i]!.checksum));
    assembly.bufferMemories.forEach((memory) => memory.fill(0));
    assembly.copyFrames();
    assembly.bufferMemories.forEach((memory, i) => expect(checksum(memory, YUYV_SIZE)).toBe(stream.frames[4 + i]!.checksum));
    await assembly.close();
  });
});
