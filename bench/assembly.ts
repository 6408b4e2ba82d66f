/**
 * 1. Assembly throughput: synthetic iso transfers through the project's FrameAssembler into a real BufferQueue,
 * against plain copies of the same payload bytes into the same queue buffers, measured in the same run with the
 * methods interleaved round by round.
 *
 * Before any timing, every case is verified: two cycles run with every frame checksummed and with every byte
 * copy in the process counted (copy-counter.ts), which must show each payload byte copied out of the transfers
 * exactly once, into the queue's buffers. Timed cycles check each frame's size, flags, order, timestamp and 8
 * sampled bytes (cheap, and charged to the assembler), and a last cycle after timing is checksummed again.
 */
import type { UsbSpeed } from '../src/spec/usb.js';
import { planTransfers } from '../src/stream/transfer-sizing.js';
import { loadNativeAddon } from '../src/transport/native/load-addon.js';
import type { NativeAddon } from '../src/transport/native/addon-types.js';
import { AssemblyRig } from './lib/assembly-rig.js';
import { countCopies } from './lib/copy-counter.js';
import { collectGarbage, median, nowNs, progress, quantile, round } from './lib/measure.js';
import { buildSyntheticStream, type SyntheticStream, type SyntheticStreamSpec } from './lib/synthetic-stream.js';

/** openCamera's default bus time in flight (OpenCameraOptions.inFlightMs): the transfer shape users get. */
export const OPEN_CAMERA_IN_FLIGHT_MS = 100;
const INTERVAL_NS = 125_000;
const CLOCK_HZ = 48_000_000;
const FRAMES_PER_CYCLE = 8;
const QUEUE_BUFFERS = 4;

export interface AssemblyCase {
  name: string;
  description: string;
  kind: 'uncompressed' | 'mjpeg';
  speed: UsbSpeed;
  packetSize: number;
  frameSizes: number[];
  bufferSize: number;
  expectedFrameSize?: number;
  /**
   * false: frames are stamped from the host's clock only (openCamera's `hardwareTimestamps: false`), so no SCR
   * sample goes to a device-clock recovery. Default true, as openCamera's.
   */
  hardwareTimestamps?: boolean;
}

export function assemblyCases(): AssemblyCase[] {
  const yuyv = (w: number, h: number) => Array.from({ length: FRAMES_PER_CYCLE }, () => w * h * 2);
  // 1080p MJPEG frames between 200 and 400 KB (a detailed scene at a camera's usual quality).
  const mjpegSizes = [262_144, 318_227, 204_800, 397_311, 289_013, 351_777, 230_417, 376_001];
  return [
    { name: '480p-yuyv-1024', description: '640×480 YUYV, 1024-byte packets (high speed)', kind: 'uncompressed', speed: 'high', packetSize: 1024, frameSizes: yuyv(640, 480), bufferSize: 640 * 480 * 2, expectedFrameSize: 640 * 480 * 2 },
    { name: '720p-yuyv-3072', description: '1280×720 YUYV, 3072-byte packets (high speed, 3×1024)', kind: 'uncompressed', speed: 'high', packetSize: 3072, frameSizes: yuyv(1280, 720), bufferSize: 1280 * 720 * 2, expectedFrameSize: 1280 * 720 * 2 },
    { name: '1080p-yuyv-49152', description: '1920×1080 YUYV, 49152-byte packets (SuperSpeed, 16 bursts × 3)', kind: 'uncompressed', speed: 'super', packetSize: 49152, frameSizes: yuyv(1920, 1080), bufferSize: 1920 * 1080 * 2, expectedFrameSize: 1920 * 1080 * 2 },
    { name: '1080p-mjpeg-3072', description: '1920×1080 MJPEG, 200–400 KB frames, 3072-byte packets (high speed)', kind: 'mjpeg', speed: 'high', packetSize: 3072, frameSizes: mjpegSizes, bufferSize: (1920 * 1080) / 4 },
    // The two cases above again with the device clock left out: what recovering it costs (one SCR sample per bus
    // millisecond, 76 a frame at 480p, 12 in MJPEG), beside what the assembler itself costs.
    { name: '480p-yuyv-1024-host-timestamps', description: '640×480 YUYV, 1024-byte packets, hardwareTimestamps: false', kind: 'uncompressed', speed: 'high', packetSize: 1024, frameSizes: yuyv(640, 480), bufferSize: 640 * 480 * 2, expectedFrameSize: 640 * 480 * 2, hardwareTimestamps: false },
    { name: '1080p-mjpeg-3072-host-timestamps', description: '1920×1080 MJPEG, 3072-byte packets, hardwareTimestamps: false', kind: 'mjpeg', speed: 'high', packetSize: 3072, frameSizes: mjpegSizes, bufferSize: (1920 * 1080) / 4, hardwareTimestamps: false },
  ];
}

export interface AssemblyResult {
  description: string;
  /**
   * How the assembler copied payloads: a native stream's scanSlots (its short path in C over the transfers of a
   * frame's hand-over, one call per run of transfers, with copyRuns for the packets JavaScript takes, as on a real
   * device), or TypedArray.set per packet (the addon did not load; the virtual camera's path).
   */
  assemblerCopy: 'scanSlots' | 'TypedArray.set';
  /** Assembler throughput, payload MB/s (10^6 bytes). */
  mbps: number;
  usPerFrame: number;
  /** Per packet the assembler looked at (idle padding included, see packetsPerCycle/dataPacketsPerCycle). */
  usPerPacket: number;
  /** Baseline: Uint8Array.prototype.set of the same payload slices into the same queue buffers. */
  memcpyMbps: number;
  /** Assembler ÷ memcpy baseline, the median of the per-round ratios (each round runs both back to back). */
  ratio: number;
  /** Baseline in C: memcpy of the same slices into the same buffers (the addon's memcpySlices); null without the addon. */
  cMemcpyMbps: number | null;
  /** Assembler ÷ C memcpy, the median of the per-round ratios. */
  ratioCMemcpy: number | null;
  /**
   * The same over the first 400 timed rounds only: a stream's first seconds, with the JIT still tiering up and the
   * clock's windows filling (what ratioCMemcpy measured before the timing ran for minTimeMs).
   */
  startRatioCMemcpy: number | null;
  /** Second baseline: one big Uint8Array.prototype.set per frame (a contiguous frame into the same buffers). */
  bigCopyMbps: number;
  ratioToBigCopy: number;
  /** Spread of the assembler's per-round throughput. */
  mbpsP10: number;
  mbpsP90: number;
  packetSize: number;
  packetsPerTransfer: number;
  packetsPerCycle: number;
  dataPacketsPerCycle: number;
  framesPerCycle: number;
  meanFrameBytes: number;
  rounds: number;
  /** The assembler's timed time, ms (at least minTimeMs unless maxRounds ended the timing: see `cappedByRounds`). */
  timedMs: number;
  /** maxRounds ended the timing before minTimeMs: the figures are those of the stream's first rounds only. */
  cappedByRounds: boolean;
  framesTimed: number;
  verified: AssemblyVerification;
}

export interface AssemblyVerification {
  /** Frames checked byte for byte (checksums) before and after timing; plus spot checks on every timed frame. */
  framesChecksummed: number;
  framesSpotChecked: number;
  payloadBytes: number;
  /** Bytes copied out of the transfer buffers, over the payload bytes (must be exactly 1). */
  copiesPerPayloadByte: number;
  /** Bytes written into queue buffers, over the payload bytes (must be exactly 1). */
  writesPerPayloadByte: number;
  /** Bytes of transfer memory copied anywhere but into the queue's buffers (must be 0). */
  strayCopyBytes: number;
  /** Frames timestamped from PTS/SCR (the clock recovery locked and ran). */
  deviceTimestamps: number;
  erroredFrames: number;
  droppedFrames: number;
}

export interface AssemblyOptions {
  /** Least timed time of the assembler per case, ms: what decides how many rounds run. */
  minTimeMs: number;
  minRounds: number;
  /** A ceiling against a runaway only: it must not be what ends the timing (see DEFAULT_ASSEMBLY_OPTIONS). */
  maxRounds: number;
  warmupRounds: number;
}

/**
 * The assembler is timed for 2.5 s per case. maxRounds was 400 until 2026-12-07, which ended the timing long
 * before that once the assembler got fast: 400 rounds of the 480p case are 0.08 s of assembly, about 240 s of the
 * stream's bus time, so the median was that of a stream's first seconds (JIT still tiering up, the clock's windows
 * filling), and one case's figure moved by a third with what ran before it in the process. `startRatioCMemcpy`
 * keeps that figure (the first START_ROUNDS timed rounds).
 */
export const DEFAULT_ASSEMBLY_OPTIONS: AssemblyOptions = { minTimeMs: 2500, minRounds: 15, maxRounds: 200_000, warmupRounds: 6 };
/** The timed rounds `startRatioCMemcpy` is the median of: as many as the whole timing had before 2026-12-07. */
const START_ROUNDS = 400;

/**
 * A case's synthetic stream and the assembler rig fed by it, as the benchmark times them: transfers sized as
 * openCamera sizes them, and with the addon laid out in slot memory as a native stream's and scanned as one
 * (scanSlots). Also what bench/assembly-ab.ts builds once per tree.
 */
export async function createAssemblyRig(c: AssemblyCase): Promise<{ plan: ReturnType<typeof planTransfers>; stream: SyntheticStream; rig: AssemblyRig; addon: NativeAddon | null }> {
  const plan = planTransfers({
    transferType: 'iso',
    speed: c.speed,
    bytesPerInterval: c.packetSize,
    dwMaxPayloadTransferSize: c.packetSize,
    dwMaxVideoFrameSize: c.bufferSize,
    targetInFlightMs: OPEN_CAMERA_IN_FLIGHT_MS,
  });
  const spec: SyntheticStreamSpec = {
    kind: c.kind,
    frameSizes: c.frameSizes,
    packetSize: c.packetSize,
    packetsPerTransfer: plan.packetsPerTransfer,
    intervalNs: INTERVAL_NS,
    clockFrequency: CLOCK_HZ,
  };
  const addon = tryLoadAddon();
  // With the addon, the transfers live in slot memory laid out as a native stream's, which the assembler scans
  // as openCamera's does a stream's (scanSlots, a frame's transfers per call).
  const made: { memory: ReturnType<NativeAddon['slotMemory']> | null } = { memory: null };
  const stream = buildSyntheticStream(
    addon === null ? spec : { ...spec, slotMemory: (transfers) => (made.memory = addon.slotMemory(transfers, plan.packetsPerTransfer, c.packetSize)).slots },
  );
  if (stream.frames.length % QUEUE_BUFFERS !== 0) throw new Error('frames per cycle must be a multiple of the pool size');
  const rig = await AssemblyRig.create(stream, {
    copyRuns: addon?.copyRuns,
    isoScan: addon?.isoScan,
    slotScan: made.memory?.scanSlots,
    buffers: QUEUE_BUFFERS,
    bufferSize: c.bufferSize,
    expectedFrameSize: c.expectedFrameSize,
    frameIntervalNs: 33_333_300,
    hardwareTimestamps: c.hardwareTimestamps,
  });
  return { plan, stream, rig, addon };
}

export async function benchAssemblyCase(c: AssemblyCase, options: AssemblyOptions = DEFAULT_ASSEMBLY_OPTIONS): Promise<AssemblyResult> {
  const { plan, stream, rig, addon } = await createAssemblyRig(c);
  try {
    // Verification: two cycles, every frame checksummed, every copy counted.
    const sources = stream.transfers.map((t) => t.buffer.buffer);
    const destinations = rig.bufferMemories.map((m) => m.buffer);
    const bytesBefore = rig.bytesDelivered;
    const { counts } = await countCopies(sources, destinations, async () => {
      for (let i = 0; i < 2; i++) {
        stream.advanceClock();
        await rig.runCycle('full');
      }
    }, [rig.copier]);
    const verifiedPayload = 2 * stream.payloadBytes;
    const delivered = rig.bytesDelivered - bytesBefore;
    if (delivered !== verifiedPayload) throw new Error(`${c.name}: ${delivered} bytes delivered for ${verifiedPayload} payload bytes`);
    if (counts.fromSources !== verifiedPayload || counts.intoDestinations !== verifiedPayload || counts.fromSourcesElsewhere !== 0) {
      throw new Error(`${c.name}: payload copied more than once: ${JSON.stringify(counts)} for ${verifiedPayload} payload bytes`);
    }
    let checksummed = rig.framesChecked;

    const cMemcpy = cMemcpyOf(stream.slices, rig.bufferMemories);
    const cMbps: number[] = [];
    const cRatios: number[] = [];
    const assemblerMbps: number[] = [];
    const assemblerNs: number[] = [];
    const sliceMbps: number[] = [];
    const bigMbps: number[] = [];
    const ratios: number[] = [];
    const bigRatios: number[] = [];
    let timedMs = 0;
    let rounds = 0;
    let framesTimed = 0;
    for (let round = 0; ; round++) {
      const warm = round >= options.warmupRounds;
      if (warm && rounds >= options.maxRounds) break;
      if (warm && rounds >= options.minRounds && timedMs >= options.minTimeMs) break;
      stream.advanceClock();
      let a = 0;
      let b = 0;
      let g = 0;
      const runAssembler = async () => {
        const t0 = nowNs();
        await rig.runCycle('spot');
        a = nowNs() - t0;
      };
      const runSlices = () => {
        const t0 = nowNs();
        rig.copySlices();
        b = nowNs() - t0;
      };
      const runBig = () => {
        const t0 = nowNs();
        rig.copyFrames();
        g = nowNs() - t0;
      };
      let m = 0;
      const runC = () => {
        if (cMemcpy === null) return;
        const t0 = nowNs();
        cMemcpy();
        m = nowNs() - t0;
      };
      // Alternate the order so neither method always runs on caches the other one warmed.
      if (round % 2 === 0) {
        await runAssembler();
        runSlices();
        runC();
        runBig();
      } else {
        runBig();
        runC();
        runSlices();
        await runAssembler();
      }
      if (!warm) continue;
      rounds++;
      framesTimed += stream.frames.length;
      timedMs += a / 1e6;
      const bytes = stream.payloadBytes;
      assemblerNs.push(a);
      assemblerMbps.push((bytes / a) * 1e3);
      sliceMbps.push((bytes / b) * 1e3);
      bigMbps.push((bytes / g) * 1e3);
      ratios.push(b / a);
      if (cMemcpy !== null) {
        cMbps.push((bytes / m) * 1e3);
        cRatios.push(m / a);
      }
      bigRatios.push(g / a);
    }

    // After timing: one more cycle checksummed (the optimised code produces the same frames).
    stream.advanceClock();
    await rig.runCycle('full');
    checksummed += stream.frames.length;
    const stats = rig.stats;
    const expectedFrames = stream.cycle * stream.frames.length;
    if (stats.frames !== expectedFrames || rig.framesChecked !== expectedFrames) {
      throw new Error(`${c.name}: ${stats.frames} frames assembled, ${rig.framesChecked} checked, ${expectedFrames} sent`);
    }
    if (stats.erroredFrames !== 0 || stats.droppedFrames !== 0 || stats.invalidHeaders !== 0) {
      throw new Error(`${c.name}: assembly reported trouble: ${JSON.stringify(stats)}`);
    }
    if ((c.hardwareTimestamps ?? true) !== stats.deviceTimestamps > 0) {
      throw new Error(`${c.name}: ${stats.deviceTimestamps} frames stamped from the device clock (hardwareTimestamps ${c.hardwareTimestamps ?? true})`);
    }

    const medianNs = median(assemblerNs);
    return {
      description: c.description,
      assemblerCopy: addon === null ? 'TypedArray.set' : 'scanSlots',
      mbps: round(median(assemblerMbps)),
      usPerFrame: round(medianNs / 1e3 / stream.frames.length),
      usPerPacket: round(medianNs / 1e3 / stream.packets),
      memcpyMbps: round(median(sliceMbps)),
      ratio: round(median(ratios), 3),
      cMemcpyMbps: cMemcpy === null ? null : round(median(cMbps)),
      ratioCMemcpy: cMemcpy === null ? null : round(median(cRatios), 3),
      startRatioCMemcpy: cMemcpy === null ? null : round(median(cRatios.slice(0, START_ROUNDS)), 3),
      bigCopyMbps: round(median(bigMbps)),
      ratioToBigCopy: round(median(bigRatios), 3),
      mbpsP10: round(quantile(assemblerMbps, 0.1)),
      mbpsP90: round(quantile(assemblerMbps, 0.9)),
      packetSize: c.packetSize,
      packetsPerTransfer: plan.packetsPerTransfer,
      packetsPerCycle: stream.packets,
      dataPacketsPerCycle: stream.dataPackets,
      framesPerCycle: stream.frames.length,
      meanFrameBytes: Math.round(stream.payloadBytes / stream.frames.length),
      rounds,
      timedMs: round(timedMs),
      cappedByRounds: timedMs < options.minTimeMs,
      framesTimed,
      verified: {
        framesChecksummed: checksummed,
        framesSpotChecked: rig.framesChecked - checksummed,
        payloadBytes: verifiedPayload,
        copiesPerPayloadByte: counts.fromSources / verifiedPayload,
        writesPerPayloadByte: counts.intoDestinations / verifiedPayload,
        strayCopyBytes: counts.fromSourcesElsewhere,
        deviceTimestamps: stats.deviceTimestamps,
        erroredFrames: stats.erroredFrames,
        droppedFrames: stats.droppedFrames,
      },
    };
  } finally {
    await rig.close();
  }
}

/**
 * The C memcpy baseline: the addon's memcpySlices over exactly the slices the assembler copies, each into the
 * queue buffer and offset it lands at (frame f in buffer f mod pool size). null when the addon does not load.
 */
function cMemcpyOf(slices: SyntheticStream['slices'], memories: readonly Uint8Array[]): (() => void) | null {
  const addon = tryLoadAddon();
  if (addon === null) return null;
  const sources: ArrayBuffer[] = [];
  const sourceIndex = new Map<ArrayBufferLike, number>();
  const destinations = memories.map((m) => m.buffer as ArrayBuffer);
  const table = new Int32Array(slices.length * 5);
  slices.forEach((slice, i) => {
    const buffer = slice.view.buffer;
    let index = sourceIndex.get(buffer);
    if (index === undefined) {
      index = sources.push(buffer as ArrayBuffer) - 1;
      sourceIndex.set(buffer, index);
    }
    const memory = memories[slice.frame % memories.length]!;
    table.set([index, slice.view.byteOffset, slice.view.byteLength, slice.frame % memories.length, memory.byteOffset + slice.frameOffset], i * 5);
  });
  return () => addon.memcpySlices(sources, destinations, table);
}

/** The native addon, or null where it cannot be loaded (then the assembler copies with TypedArray.set, as on the virtual camera). */
function tryLoadAddon(): NativeAddon | null {
  try {
    return loadNativeAddon();
  } catch {
    return null;
  }
}

export async function benchAssembly(options: AssemblyOptions = DEFAULT_ASSEMBLY_OPTIONS, only?: (name: string) => boolean): Promise<Record<string, AssemblyResult>> {
  const results: Record<string, AssemblyResult> = {};
  for (const c of assemblyCases()) {
    if (only !== undefined && !only(c.name)) continue;
    progress(`assembly ${c.name}: ${c.description}`);
    const result = await benchAssemblyCase(c, options);
    progress(`  ${result.mbps} MB/s, ${result.ratio}× Uint8Array.set (${result.memcpyMbps} MB/s), ${result.ratioCMemcpy ?? '-'}× C memcpy (${result.cMemcpyMbps ?? '-'} MB/s; ${result.startRatioCMemcpy ?? '-'}× over the first ${Math.min(START_ROUNDS, result.rounds)} rounds), ${result.rounds} rounds`);
    if (result.cappedByRounds) progress(`  note: maxRounds (${options.maxRounds}) ended the timing after ${result.timedMs} ms, before minTimeMs (${options.minTimeMs} ms)`);
    results[c.name] = result;
    await collectGarbage();
  }
  return results;
}
