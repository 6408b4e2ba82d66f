/**
 * Device clock → host clock, the way uvcvideo's uvc_video_clock_* recovers it.
 *
 * A camera stamps frames with a PTS in its own clock (dwClockFrequency ticks per second). Payload headers also
 * carry SCR samples: the device clock (STC) and the USB frame number (SOF, 11 bits, 1 kHz) at one instant. The
 * SOF is the bus clock, which the host controller drives, so it links both sides: PTS → SOF through the device's
 * (STC, SOF) pairs, then SOF → host time through the times the packets carrying those SOFs arrived.
 *
 * Differences from uvcvideo, for a userspace driver:
 * - uvcvideo reads the host's own frame counter when a packet completes; libusb does not expose it, so the
 *   host side of a sample is the packet's arrival time, estimated from the transfer's completion time. That
 *   time is late by a latency that varies with the event loop. The SOF → host line therefore takes its slope
 *   from a least-squares fit and its offset from the lower envelope (the least delayed sample), because delays
 *   only ever add.
 * - uvcvideo keeps 32 samples; at one sample per SOF that spans 32 ms. Here samples are thinned to one per
 *   bucket of SOF frames (the least delayed one), so the window spans about a second, and, like uvcvideo, no
 *   translation happens before it spans at least 250 ms.
 * - Both fits use least squares over the window instead of the two end points.
 * Kept from uvcvideo: SCRs with the same SOF as the previous one are dropped (UVC 1.5 repeats the SOF across a
 * frame), an all-zero SCR in a header-only packet is ignored (the caller decides that), SOF and STC wrap.
 */

export interface ClockRecoveryOptions {
  /** dwClockFrequency: device clock ticks per second. */
  clockFrequency: number;
  /** How much SOF time the window keeps, ms. Default 1000. */
  windowMs?: number;
  /** No translation before the window spans this much, ms. Default 250 (uvcvideo's threshold). */
  minSpanMs?: number;
  /** One sample is kept per this many SOF frames. Default 8. */
  bucketMs?: number;
}

interface Sample {
  /** Extended (unwrapped) STC, ticks. */
  stc: number;
  /** Extended SOF, ms frames. */
  sof: number;
  hostNs: number;
}

const SOF_MODULO = 2048;
const NS_PER_SOF = 1_000_000;
/** SOF → host slope is allowed this far from 1 ms per frame (host clock slew plus controller crystal). */
const MAX_HOST_SLOPE_ERROR = 0.002;
/** STC → SOF slope is allowed this far from the nominal clock frequency. */
const MAX_DEVICE_SLOPE_ERROR = 0.01;
/** A gap longer than this between samples makes SOF unwrapping ambiguous: start over. */
const MAX_SAMPLE_GAP_NS = 1_000_000_000;
/** Arrival estimates may come slightly out of order (latency varies); more than this is nonsense. */
const MAX_HOST_REORDER_NS = 100_000_000;

export class ClockRecovery {
  readonly clockFrequency: number;
  private readonly windowMs: number;
  private readonly minSpanMs: number;
  private readonly bucketMs: number;
  private readonly capacity: number;

  private readonly ring: Sample[] = [];
  private pending: Sample | null = null;
  private lastSofRaw = -1;
  private lastStcRaw = 0;
  private sofExt = 0;
  private stcExt = 0;
  private lastHostNs = 0;

  // The fit, recomputed lazily when samples changed.
  private dirty = true;
  private fitValid = false;
  private stc0 = 0;
  /** SOF per STC tick. */
  private deviceSlope = 0;
  private deviceOffset = 0;
  /** ns per SOF. */
  private hostSlope = 0;
  private hostOffset = 0;

  constructor(options: ClockRecoveryOptions) {
    if (!(options.clockFrequency > 0)) throw new RangeError(`clockFrequency must be positive, got ${options.clockFrequency}`);
    this.clockFrequency = options.clockFrequency;
    this.windowMs = options.windowMs ?? 1000;
    this.minSpanMs = options.minSpanMs ?? 250;
    this.bucketMs = options.bucketMs ?? 8;
    this.capacity = Math.ceil(this.windowMs / this.bucketMs) + 1;
  }

  /** Forgets every sample (stream restart). */
  reset(): void {
    this.ring.length = 0;
    this.pending = null;
    this.lastSofRaw = -1;
    this.dirty = true;
    this.fitValid = false;
  }

  /** Number of samples kept (for tests and diagnostics). */
  get sampleCount(): number {
    return this.ring.length + (this.pending === null ? 0 : 1);
  }

  /** True when toHostNs() translates. */
  get locked(): boolean {
    this.refit();
    return this.fitValid;
  }

  /**
   * One SCR: the device clock `stc` (u32) and the 11-bit frame number `sof` it was sampled in, carried by a
   * packet that arrived at `hostNs` (CLOCK_MONOTONIC).
   */
  addSample(stc: number, sof: number, hostNs: number): void {
    sof &= SOF_MODULO - 1;
    if (sof === this.lastSofRaw) return;
    if (this.lastSofRaw >= 0) {
      const dSof = (sof - this.lastSofRaw) & (SOF_MODULO - 1);
      const dStc = (stc - this.lastStcRaw) | 0;
      const expected = (dSof * this.clockFrequency) / 1000;
      const tolerance = Math.max(expected * 0.2, this.clockFrequency / 100);
      const hostGap = hostNs - this.lastHostNs;
      if (hostGap > MAX_SAMPLE_GAP_NS || hostGap < -MAX_HOST_REORDER_NS || Math.abs(dStc - expected) > tolerance) {
        // A pause, a device clock reset or nonsense: the old samples no longer describe the clocks.
        this.reset();
      } else {
        this.sofExt += dSof;
        this.stcExt += dStc;
      }
    }
    if (this.lastSofRaw < 0) {
      this.sofExt = sof;
      this.stcExt = stc;
    }
    this.lastSofRaw = sof;
    this.lastStcRaw = stc;
    this.lastHostNs = hostNs;
    this.keep({ stc: this.stcExt, sof: this.sofExt, hostNs });
  }

  /** The host time of device time `pts` (u32 ticks), or NaN while the clock is not locked. */
  toHostNs(pts: number): number {
    this.refit();
    if (!this.fitValid) return NaN;
    const delta = (pts - this.lastStcRaw) | 0;
    // A PTS more than two seconds away from the latest sample is not a timestamp of this stream.
    if (Math.abs(delta) > 2 * this.clockFrequency) return NaN;
    const ptsExt = this.stcExt + delta;
    const sof = this.deviceSlope * (ptsExt - this.stc0) + this.deviceOffset;
    return this.hostOffset + this.hostSlope * sof;
  }

  private keep(sample: Sample): void {
    const pending = this.pending;
    if (pending !== null && Math.floor(pending.sof / this.bucketMs) === Math.floor(sample.sof / this.bucketMs)) {
      // Same bucket: keep the least delayed sample.
      if (sample.hostNs - sample.sof * NS_PER_SOF < pending.hostNs - pending.sof * NS_PER_SOF) this.pending = sample;
      return;
    }
    if (pending !== null) {
      this.ring.push(pending);
      if (this.ring.length > this.capacity) this.ring.shift();
      this.dirty = true;
    }
    this.pending = sample;
  }

  private refit(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.fitValid = false;
    const samples = this.ring;
    const n = samples.length;
    if (n < 2) return;
    const first = samples[0]!;
    const last = samples[n - 1]!;
    if (last.sof - first.sof < this.minSpanMs) return;
    const stc0 = first.stc;
    const sof0 = first.sof;
    const host0 = first.hostNs;

    // Least squares on values relative to the first sample, so doubles keep their precision.
    let sx = 0;
    let sy = 0;
    let sh = 0;
    for (const s of samples) {
      sx += s.stc - stc0;
      sy += s.sof - sof0;
      sh += s.hostNs - host0;
    }
    const mx = sx / n;
    const my = sy / n;
    const mh = sh / n;
    let sxx = 0;
    let sxy = 0;
    let syy = 0;
    let syh = 0;
    for (const s of samples) {
      const dx = s.stc - stc0 - mx;
      const dy = s.sof - sof0 - my;
      sxx += dx * dx;
      sxy += dx * dy;
      syy += dy * dy;
      syh += dy * (s.hostNs - host0 - mh);
    }
    if (sxx === 0 || syy === 0) return;
    const deviceSlope = sxy / sxx;
    const nominalDeviceSlope = 1000 / this.clockFrequency;
    if (Math.abs(deviceSlope / nominalDeviceSlope - 1) > MAX_DEVICE_SLOPE_ERROR) return;
    const deviceOffset = my - deviceSlope * mx;

    let hostSlope = syh / syy;
    if (Math.abs(hostSlope / NS_PER_SOF - 1) > MAX_HOST_SLOPE_ERROR) hostSlope = NS_PER_SOF;
    // The lower envelope: arrival times are late by a latency that is never negative.
    let offset = Infinity;
    for (const s of samples) {
      const candidate = s.hostNs - host0 - hostSlope * (s.sof - sof0);
      if (candidate < offset) offset = candidate;
    }

    this.stc0 = stc0;
    this.deviceSlope = deviceSlope;
    // SOF values are kept relative to sof0 inside the fit.
    this.deviceOffset = deviceOffset;
    this.hostSlope = hostSlope;
    this.hostOffset = host0 + offset;
    this.fitValid = true;
  }
}
