/**
 * A camera's clocks as the host sees them, simulated: frames captured at a steady rate, a device clock (STC)
 * that drifts against the host, the bus SOF, one iso packet per bus interval with PTS and SCR in its header
 * (header-only packets between frames), and transfers of packets that reach JavaScript late by a latency that
 * varies (the completion-jitter fault, the event loop). Deterministic from a seed, and fast, so tests can run
 * thousands of frames and know every frame's true capture instant.
 */
import { PayloadHeader } from '../../src/spec/uvc.js';
import { TransferStatus } from '../../src/transport/usb-transport.js';
import { Random } from './helpers/random.js';
import { TestTransfer } from './helpers/transfers.js';

export interface SimulationOptions {
  seed?: number;
  fps?: number;
  /** Bus interval, ns: 125 000 (high speed) or 1 000 000 (full speed). */
  intervalNs?: number;
  /** Payload bytes of a frame (uncompressed, all equal). */
  frameBytes?: number;
  /** Payload bytes per packet (after the 12-byte header). */
  packetData?: number;
  packetsPerTransfer?: number;
  clockFrequency?: number;
  /** Device clock rate error against the host, ppm. */
  driftPpm?: number;
  /** Completion delay, uniform in [0, jitterMs] ms, on top of `baseLatencyNs`; completions stay in order. */
  jitterMs?: number;
  baseLatencyNs?: number;
  /** Probability per transfer of an event-loop stall, and its mean length (exponential), ns. */
  stallChance?: number;
  stallMeanNs?: number;
  /** Time from a capture to the frame's first packet, ns. */
  readoutNs?: number;
  /** Header-only packets between frames carry all-zero PTS and SCR (SunplusIT). */
  zeroScrIdle?: boolean;
  /** The SCR's SOF field is the device's own counter, not the bus's: it runs at `invalidSofRate` of 1 kHz. */
  invalidSofRate?: number;
  /** UVC 1.5: the SCR is sampled when a frame's first packet goes out and repeated in its other packets. */
  scrPerFrame?: boolean;
  /** Headers carry no PTS and no SCR at all. */
  noTimestamps?: boolean;
  /** Probability that a packet is lost on the bus (completes with an error status). */
  packetLossRate?: number;
  /** Probability per transfer that the host had none in flight for a while (reported as lostIntervals). */
  gapChance?: number;
  /** From this frame on, the device clock has jumped by a second (a camera reset). */
  stcJumpAtFrame?: number;
  /** The process is busy for this long at the stream's start: no completion reaches it before, ns. */
  startStallNs?: number;
}

export interface SimulatedFrame {
  index: number;
  captureNs: number;
  pts: number;
}

const T0 = 7_000_000_000_000;
const HEADER = 12;

export class ClockSimulation {
  readonly intervalNs: number;
  readonly clockFrequency: number;
  readonly frameBytes: number;
  readonly stride: number;
  readonly frames: SimulatedFrame[] = [];
  /** Transfers completed so far (completion order = bus order). */
  transfers = 0;

  private readonly o: Required<Omit<SimulationOptions, 'seed'>>;
  private readonly random: Random;
  private readonly periodNs: number;
  private readonly stc0: number;
  private readonly sof0: number;
  private interval = 0;
  private nextCapture = 0;
  private sending: { frame: SimulatedFrame; offset: number; fid: number; scrStc: number; scrSof: number; started: boolean } | null = null;
  private lastPts = 0;
  private lastScr: { stc: number; sof: number } | null = null;
  private fid = 1;
  private lastCompletion = 0;
  private readonly buffers: Uint8Array[] = [];
  private readonly scratch = new Uint8Array(12 + 4096);

  constructor(options: SimulationOptions = {}) {
    this.o = {
      fps: 30,
      intervalNs: 125_000,
      frameBytes: 12_000,
      packetData: 3060,
      packetsPerTransfer: 8,
      clockFrequency: 48_000_000,
      driftPpm: 0,
      jitterMs: 0,
      baseLatencyNs: 20_000,
      stallChance: 0,
      stallMeanNs: 3_000_000,
      readoutNs: 500_000,
      zeroScrIdle: false,
      invalidSofRate: 0,
      scrPerFrame: false,
      noTimestamps: false,
      packetLossRate: 0,
      gapChance: 0,
      stcJumpAtFrame: Number.POSITIVE_INFINITY,
      startStallNs: 0,
      ...options,
    };
    this.random = new Random(options.seed ?? 1);
    this.intervalNs = this.o.intervalNs;
    this.clockFrequency = this.o.clockFrequency;
    this.frameBytes = this.o.frameBytes;
    this.stride = HEADER + this.o.packetData;
    this.periodNs = 1e9 / this.o.fps;
    // Start near the ends of both counters, so both wrap early in a run.
    this.stc0 = 2 ** 32 - Math.floor(this.clockFrequency * 0.7) + this.random.int(0, 1000);
    this.sof0 = 2040 - this.random.int(0, 10);
    this.nextCapture = T0 + 3_000_000;
  }

  /** The host instant of bus interval i. */
  timeOf(interval: number): number {
    return T0 + interval * this.intervalNs;
  }

  stc(hostNs: number): number {
    const ticks = ((hostNs - T0) / 1e9) * this.clockFrequency * (1 + this.o.driftPpm * 1e-6);
    const jumped = this.frames.length > this.o.stcJumpAtFrame ? this.clockFrequency : 0;
    return (this.stc0 + Math.floor(ticks) + jumped) % 2 ** 32;
  }

  /** The SOF the device puts in its SCR at host time t. */
  sof(hostNs: number): number {
    const ms = (hostNs - T0) / 1e6;
    if (this.o.invalidSofRate > 0) return Math.floor(ms * this.o.invalidSofRate + 977) & 0x7ff;
    return this.busSof(hostNs);
  }

  /** The bus's frame number at host time t (what the host controller's counter reads). */
  busSof(hostNs: number): number {
    return (this.sof0 + Math.floor((hostNs - T0) / 1e6)) & 0x7ff;
  }

  /** The simulated frame a delivered frame's bytes come from (null when its start was lost). */
  frameOf(data: Uint8Array): SimulatedFrame | null {
    if (data.length < 4) return null;
    return this.frames[new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true)] ?? null;
  }

  /** The frame whose PTS is `pts` (the latest one, should PTS repeat after a wrap). */
  frameOfPts(pts: number): SimulatedFrame | undefined {
    for (let i = this.frames.length - 1; i >= 0; i--) if (this.frames[i]!.pts === pts) return this.frames[i];
    return undefined;
  }

  /** The next transfer, in completion order. */
  nextTransfer(): TestTransfer {
    const count = this.o.packetsPerTransfer;
    const slot = this.transfers % 4;
    const buffer = (this.buffers[slot] ??= new Uint8Array(count * this.stride));
    const transfer = new TestTransfer(buffer, count);
    transfer.slot = slot;
    transfer.packetCount = count;
    transfer.packetStride = this.stride;
    transfer.status = TransferStatus.COMPLETED;
    if (this.o.gapChance > 0 && this.random.chance(this.o.gapChance)) {
      // The host had no transfer in flight for a while: the device sent into the void.
      const lost = this.random.int(1, 40);
      for (let i = 0; i < lost; i++) this.packet(this.interval + i, this.scratch, 0);
      this.interval += lost;
      transfer.lostIntervals = lost;
    }
    let total = 0;
    for (let i = 0; i < count; i++) {
      const length = this.packet(this.interval + i, buffer, i * this.stride);
      const lost = this.o.packetLossRate > 0 && this.random.chance(this.o.packetLossRate);
      transfer.packetLength[i] = lost ? 0 : length;
      transfer.packetStatus[i] = lost ? TransferStatus.ERROR : TransferStatus.COMPLETED;
      total += lost ? 0 : length;
    }
    transfer.actualLength = total;
    this.interval += count;
    const end = this.timeOf(this.interval);
    let latency = this.o.baseLatencyNs + this.random.next() * this.o.jitterMs * 1e6;
    if (this.o.stallChance > 0 && this.random.chance(this.o.stallChance)) latency += this.random.exponential(this.o.stallMeanNs);
    this.lastCompletion = Math.max(this.lastCompletion, end + latency, T0 + this.o.startStallNs);
    transfer.completedAtNs = Math.round(this.lastCompletion);
    this.transfers++;
    return transfer;
  }

  /** Writes the packet sent in bus interval `interval`; returns its length. */
  private packet(interval: number, buffer: Uint8Array, at: number): number {
    const t = this.timeOf(interval);
    if (this.sending === null && t >= this.nextCapture + this.o.readoutNs) {
      const frame: SimulatedFrame = { index: this.frames.length, captureNs: this.nextCapture, pts: this.stc(this.nextCapture) };
      this.frames.push(frame);
      this.fid ^= 1;
      this.sending = { frame, offset: 0, fid: this.fid, scrStc: 0, scrSof: 0, started: false };
      this.nextCapture += this.periodNs;
    }
    const view = new DataView(buffer.buffer, buffer.byteOffset + at, HEADER);
    const noTimestamps = this.o.noTimestamps;
    buffer[at] = noTimestamps ? 2 : HEADER;
    let info = PayloadHeader.EOH | (noTimestamps ? 0 : PayloadHeader.PTS | PayloadHeader.SCR);
    let stc = this.stc(t);
    let sof = this.sof(t);
    let pts = this.lastPts;
    let data = 0;
    const sending = this.sending;
    if (sending !== null) {
      info |= sending.fid;
      pts = sending.frame.pts;
      this.lastPts = pts;
      data = Math.min(this.o.packetData, this.frameBytes - sending.offset);
      // A frame's first 4 bytes name it (frameIndexOf reads them back from a delivered frame).
      if (sending.offset === 0 && data >= 4) new DataView(buffer.buffer, buffer.byteOffset + at + (noTimestamps ? 2 : HEADER), 4).setUint32(0, sending.frame.index, true);
      sending.offset += data;
      if (this.o.scrPerFrame) {
        if (!sending.started) {
          sending.scrStc = stc;
          sending.scrSof = sof;
          sending.started = true;
        }
        stc = sending.scrStc;
        sof = sending.scrSof;
        this.lastScr = { stc, sof };
      }
      if (sending.offset >= this.frameBytes) {
        info |= PayloadHeader.EOF;
        this.sending = null;
      }
    } else {
      info |= this.fid;
      if (this.o.scrPerFrame && this.lastScr !== null) {
        // UVC 1.5: header-only payloads repeat the last SCR too.
        stc = this.lastScr.stc;
        sof = this.lastScr.sof;
      }
      if (this.o.zeroScrIdle) {
        pts = 0;
        stc = 0;
        sof = 0;
      }
    }
    buffer[at + 1] = info;
    if (noTimestamps) return 2 + data;
    view.setUint32(2, pts >>> 0, true);
    view.setUint32(6, stc >>> 0, true);
    view.setUint16(10, sof & 0x7ff, true);
    return HEADER + data;
  }
}
