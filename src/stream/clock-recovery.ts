/**
 * Device clock → host clock: turns a frame's PTS (the device's clock at the capture instant) into
 * CLOCK_MONOTONIC nanoseconds, from the SCR samples the payload headers carry (uvcvideo's uvc_video_clock_*).
 *
 * An SCR pairs the device clock (STC, dwClockFrequency ticks per second) with the USB frame number (SOF) at one
 * instant, and the packet that carries it reaches the host some time later. uvcvideo reads the host controller's
 * frame counter when a packet completes and goes PTS → SOF → host time. libusb does not expose that counter;
 * what a userspace driver has is when each packet arrived (estimated from its transfer's completion, or better
 * from the bus timeline that all completions outline: bus-timeline.ts). So:
 *
 * - A packet cannot carry a clock value from its future: its arrival is at or after the host instant of its
 *   STC, late by a latency that varies (the event loop, the completion jitter of a USB/IP link). The map
 *   STC → host is the line under the (STC, arrival) points, fitted to the least delayed ones
 *   (envelope-window.ts), not through their middle: a late packet never pulls timestamps late.
 * - Its slope (the device clock's true rate in host time) is the nominal frequency (or the rate fitted in an
 *   earlier stream) until the window spans a second, then fitted. The clock locks once the window spans
 *   `lockSpanMs` and the fit's own error estimate (with a 100 ppm allowance while the rate is not fitted) is under
 *   `lockUncertaintyUs`. Before the lock, translations are provisional but on the same time base, so nothing
 *   jumps when the lock comes. A fitted rate more than 1 % off over 4 s, or a device clock off by 2× over 3 s,
 *   means dwClockFrequency is not the device's: no translation (frames get host times).
 * - Each sample is checked against the line: one that says it arrived before its own STC (by more than the
 *   line's error allows), or later than any latency explains, is rejected and counted. Eight rejected samples in
 *   a row that agree with each other mean the device clock jumped (a reset of the camera): the recovery starts
 *   over from them.
 * - The SOF in the SCR is not needed for the map; it is checked against the STC. A camera whose SOF does not
 *   advance at 1 kHz with its clock (Linux's UVC_QUIRK_INVALID_DEVICE_SOF, e.g. the Logitech C922) is detected
 *   from that and shown in the stats; `deviceSofInvalid` says so from the start (a quirk table entry).
 * Kept from uvcvideo: a repeated SCR adds nothing (UVC 1.5 repeats it across a frame); the caller drops the
 * all-zero SCRs of header-only packets (SunplusIT); the STC and the SOF wrap.
 */
import { EnvelopeWindow } from './envelope-window.js';

export interface ClockRecoveryOptions {
  /** dwClockFrequency: device clock ticks per second. */
  clockFrequency: number;
  /**
   * How uncertain the arrival times handed in are, ns (e.g. the error estimate of the bus timeline that dated
   * them): the clock locks only when this and its own estimate together are under the lock threshold.
   */
  arrivalUncertaintyNs?: () => number;
  /** How much device time the window keeps, ms. Default 8000. */
  windowMs?: number;
  /** The rate is fitted, and the clock may lock, once the window spans this much, ms. Default 250 (uvcvideo's). */
  lockSpanMs?: number;
  /** The clock locks when its own error estimate is below this, µs. Default 50. */
  lockUncertaintyUs?: number;
  /** One sample is kept per this much device time, ms (the least delayed). Default 4. */
  bucketMs?: number;
  /** The SOF counter in the SCR is known not to be the bus SOF (a quirk): never check or trust it. */
  deviceSofInvalid?: boolean;
  /** Refit the device clock's line over the whole window for every frame (envelope-window.ts: the tests' reference). */
  fullRefit?: boolean;
}

/** What the clock recovery knows and did, for `camera.stats`. */
export interface ClockRecoveryStats {
  /** Timestamps come from a fitted device clock whose error estimate is under the lock threshold. */
  locked: boolean;
  /** SCR samples taken (repeats of the previous SCR are not counted). */
  samples: number;
  /** Samples refused as inconsistent with the clocks recovered so far. */
  rejectedSamples: number;
  /** Times the recovery started over (a device clock jump). */
  resets: number;
  /**
   * The SOF counter in the SCR: 'valid' (advances at 1 kHz with the device clock), 'invalid' (it does not, or
   * a quirk says so; the recovery does without it), 'unknown' (not enough samples yet).
   */
  deviceSof: 'unknown' | 'valid' | 'invalid';
  /** The device clock's rate error against its nominal frequency, in ppm of host time (0 until locked). */
  driftPpm: number;
  /**
   * How late translated timestamps may be beyond the least latency any packet had, by the recovery's own
   * estimate, µs (null before the first sample). That least latency itself no host-side observation can see.
   */
  uncertaintyUs: number | null;
}

const TWO_32 = 4294967296;
const TWO_31 = 2147483648;
const SOF_MODULO = 2048;
/** The device clock may run this far off its nominal rate; beyond it dwClockFrequency is wrong: no translation. */
const MAX_DRIFT = 0.01;
/** A sample this much earlier than the locked line allows (besides the line's own error) is impossible. */
const EARLY_TOLERANCE_NS = 2_000_000;
/**
 * Before the lock: the line may still be late by the latency of the first packets, which is as long as a stall
 * of the process at the stream start (920 ms seen in a test run on a loaded machine). A device clock that jumps
 * by less than this before the lock is taken for a late line: its PTS gaps across the jump then overstate one gap
 * by the jump (frame-timestamps.ts refuses gaps 250 ms beyond the host's).
 */
const EARLY_TOLERANCE_UNLOCKED_NS = 1_000_000_000;
/** A sample this much later than the line is no latency: it belongs to another clock. */
const LATE_TOLERANCE_NS = 1_000_000_000;
/** Rejected samples agree with each other when their arrivals and clocks differ by no more than this. */
const STEP_TOLERANCE_NS = 50_000_000;
/** Rejected samples in a row, agreeing with each other, that make the recovery start over from them. */
const RESET_AFTER = 8;
/** SOF checks kept to judge the device's SOF counter. */
const SOF_HISTORY = 16;
/** The SOF is checked over at least this much device time, ms (a rate error shows over a span). */
const SOF_CHECK_SPAN_MS = 64;
/** After this much host time, a device clock far from its nominal rate shows through any stall of the arrivals. */
const GROSS_RATE_AFTER_NS = 3_000_000_000;
/** A PTS more than this many seconds from the latest sample is not a timestamp of this stream. */
const MAX_PTS_DISTANCE_S = 2;

export class ClockRecovery {
  readonly clockFrequency: number;
  private readonly nsPerTick: number;
  /** Device ticks per host ns (unwrap's estimate of the ticks elapsed). */
  private readonly ticksPerNs: number;
  /** Points: u = device time since the base in nominal ns, y = arrival − base − u. */
  private readonly window: EnvelopeWindow;
  private readonly arrivalUncertaintyNs: () => number;
  private readonly lockUncertaintyNs: number;

  // The fields that hold an STC (a u32) or a host time start as -0 (the same as 0 to every comparison and sum here,
  // but no small integer), and "no STC" is NaN (unequal to any): V8 stores a field that has only held small
  // integers as one, and the first STC at 2^31 or above (where half of all device clocks start, and where a 48 MHz
  // clock gets within 45 s from below) then changed the object's layout, which discarded the code compiled for it
  // mid-stream (on the host: addSample, unwrap, plausible, the frame timing's scr and transfer and the assembler's
  // scanTransfers deoptimized and compiled again, about a tenth of a stream's compiling).

  // The base of the current run (since the last reset).
  private running = false;
  private baseStc = -0;
  private baseHostNs = -0;
  /** The latest accepted sample. */
  private lastStcRaw = -0;
  private lastStcExt = -0;
  private lastHostNs = -0;
  /** The previous SCR, accepted or not (repeats are ignored; NaN: none). */
  private previousStc = Number.NaN;
  private previousSof = -1;

  // Rejected samples that may be the start of a new run.
  private candidateStc = -0;
  private candidateHostNs = -0;
  private candidateCount = 0;

  // SOF judgement.
  private readonly sofForced: boolean;
  private readonly sofHistory = new Uint8Array(SOF_HISTORY);
  private sofChecks = 0;
  private sofMismatches = 0;
  private sofVerdict: ClockRecoveryStats['deviceSof'] = 'unknown';
  /** The sample the next SOF check measures from (sofRefSof -1: none). */
  private sofRefStc = -0;
  private sofRefSof = -1;

  private samplesTaken = 0;
  private rejected = 0;
  private resetCount = 0;

  constructor(options: ClockRecoveryOptions) {
    if (!(options.clockFrequency > 0)) throw new RangeError(`clockFrequency must be positive, got ${options.clockFrequency}`);
    this.clockFrequency = options.clockFrequency;
    this.nsPerTick = 1e9 / options.clockFrequency;
    this.ticksPerNs = options.clockFrequency / 1e9;
    this.arrivalUncertaintyNs = options.arrivalUncertaintyNs ?? (() => 0);
    this.lockUncertaintyNs = (options.lockUncertaintyUs ?? 50) * 1e3;
    this.window = new EnvelopeWindow({
      windowNs: (options.windowMs ?? 8000) * 1e6,
      bucketNs: Math.max(0.001, options.bucketMs ?? 4) * 1e6,
      fitSpanNs: 1_000_000_000,
      priorSlopeError: 100e-6,
      lockSpanNs: (options.lockSpanMs ?? 250) * 1e6,
      lockUncertaintyNs: this.lockUncertaintyNs,
      maxSlope: MAX_DRIFT,
      refuseBeyondNs: 4_000_000_000,
      fullRefit: options.fullRefit === true,
    });
    this.sofForced = options.deviceSofInvalid === true;
    if (this.sofForced) this.sofVerdict = 'invalid';
  }

  /** Forgets every sample and zeroes the counts (a new stream). What was learned of the device (its SOF, its rate) is kept. */
  reset(): void {
    this.running = false;
    this.window.clear();
    this.previousStc = Number.NaN;
    this.previousSof = -1;
    this.candidateCount = 0;
    this.sofRefSof = -1;
    this.samplesTaken = 0;
    this.rejected = 0;
    this.resetCount = 0;
  }

  /** The SOF counter of the SCR is not to be trusted (a quirk, or found not to count bus frames). */
  get deviceSofInvalid(): boolean {
    return this.sofVerdict === 'invalid';
  }

  /** Times the device clock was seen to jump (camera reset): PTS from before and after do not compare. */
  get jumps(): number {
    return this.resetCount;
  }

  /** Number of points in the window (for tests and diagnostics). */
  get sampleCount(): number {
    return this.window.size;
  }

  /** How many fits the window computed, how many were passes over the whole window (diagnostics, bench/clock-fit.ts). */
  get fitCounts(): Readonly<EnvelopeWindow['counts']> {
    return this.window.counts;
  }

  /** True when translations come from a fitted line whose error estimate is under the lock threshold. */
  get locked(): boolean {
    const fit = this.window.fit();
    return fit !== null && fit.locked && !this.grosslyOff() && this.arrivalUncertaintyNs() <= this.lockUncertaintyNs;
  }

  get stats(): ClockRecoveryStats {
    const fit = this.window.fit();
    const locked = this.locked;
    const uncertainty = (fit?.uncertainty ?? Number.POSITIVE_INFINITY) + this.arrivalUncertaintyNs();
    return {
      locked,
      samples: this.samplesTaken,
      rejectedSamples: this.rejected,
      resets: this.resetCount,
      deviceSof: this.sofVerdict,
      // The line's slope is host time per device time, less one: a fast device clock makes it negative.
      driftPpm: locked ? Math.round((1 / (1 + fit!.slope) - 1) * 1e8) / 100 : 0,
      uncertaintyUs: Number.isFinite(uncertainty) ? Math.round(uncertainty / 100) / 10 : null,
    };
  }

  /**
   * One SCR: the device clock `stc` (u32) and the 11-bit frame number `sof` it was sampled in, carried by a
   * packet that was on the bus at `hostNs` (CLOCK_MONOTONIC; an estimate that may be late, never early).
   */
  addSample(stc: number, sof: number, hostNs: number): void {
    stc >>>= 0;
    sof &= SOF_MODULO - 1;
    if (stc === this.previousStc && sof === this.previousSof) return; // a repeated SCR
    this.previousStc = stc;
    this.previousSof = sof;
    this.samplesTaken++;
    if (!this.running) {
      this.start(stc, sof, hostNs);
      return;
    }
    // The hot path, one sample per bus frame: written out here (rather than through helpers that take and return
    // doubles) so that it compiles as one piece without boxing a number. The rare branches are calls.
    const stcExt = this.unwrap(stc, hostNs, this.lastStcRaw, this.lastStcExt, this.lastHostNs);
    const u = (stcExt - this.baseStc) * this.nsPerTick;
    const y = hostNs - this.baseHostNs - u;
    if (!this.plausible(u, y)) {
      this.reject(stc, hostNs);
      return;
    }
    this.candidateCount = 0;
    // checkSof, its early returns inline.
    if (!this.sofForced) {
      if (this.sofRefSof < 0) {
        this.sofRefStc = stcExt;
        this.sofRefSof = sof;
      } else if ((stcExt - this.sofRefStc) * this.nsPerTick * 1e-6 >= SOF_CHECK_SPAN_MS) {
        this.checkSof(stcExt, sof);
      }
    }
    this.lastStcRaw = stc;
    this.lastStcExt = stcExt;
    this.lastHostNs = hostNs;
    this.window.add(u, y);
  }

  /**
   * The host time (CLOCK_MONOTONIC ns) of device time `pts` (u32 ticks); NaN before the first sample, for a PTS
   * that cannot belong to this stream, or when the device clock runs too far from dwClockFrequency to trust it.
   * Before the lock the result is provisional (see `locked`).
   */
  toHostNs(pts: number): number {
    const fit = this.window.fit();
    if (fit === null || !this.running || this.grosslyOff()) return Number.NaN;
    const delta = ((pts >>> 0) - this.lastStcRaw) | 0;
    if (Math.abs(delta) > MAX_PTS_DISTANCE_S * this.clockFrequency) return Number.NaN;
    const u = (this.lastStcExt + delta - this.baseStc) * this.nsPerTick;
    return this.baseHostNs + u + fit.intercept + fit.slope * u;
  }

  /**
   * The device clock runs at another rate than dwClockFrequency altogether (twice or half as fast, or worse),
   * judged once seconds have passed: the window's own rate check cannot see it, as it spans device time.
   */
  private grosslyOff(): boolean {
    const hostElapsed = this.lastHostNs - this.baseHostNs;
    if (hostElapsed < GROSS_RATE_AFTER_NS) return false;
    const ratio = ((this.lastStcExt - this.baseStc) * this.nsPerTick) / hostElapsed;
    return !(ratio > 0.5 && ratio < 2);
  }

  // ---------------------------------------------------------------- samples

  private start(stc: number, sof: number, hostNs: number): void {
    this.running = true;
    this.baseStc = stc;
    this.baseHostNs = hostNs;
    this.window.clear();
    this.sofRefSof = -1;
    this.checkSof(stc, sof);
    this.accept(stc, stc, hostNs);
  }

  private accept(stc: number, stcExt: number, hostNs: number): void {
    this.lastStcRaw = stc;
    this.lastStcExt = stcExt;
    this.lastHostNs = hostNs;
    const u = (stcExt - this.baseStc) * this.nsPerTick;
    this.window.add(u, hostNs - this.baseHostNs - u);
  }

  /** The extended STC nearest to what the host time elapsed since the reference says (wraps, long pauses). */
  private unwrap(stc: number, hostNs: number, refRaw: number, refExt: number, refHostNs: number): number {
    const raw = (stc - refRaw) >>> 0; // both are u32: the difference mod 2^32, without a floating-point %
    const off = (hostNs - refHostNs) * this.ticksPerNs - raw;
    // Nearly always no wrap to add: Math.round(off / 2^32) is 0 exactly when off is in [-2^31, 2^31).
    if (off >= -TWO_31 && off < TWO_31) return refExt + raw;
    return refExt + raw + Math.round(off / TWO_32) * TWO_32;
  }

  /**
   * Whether a sample (u, y: as the window takes it) agrees with the line as last fitted (refitting per sample would
   * cost more than it tells): no earlier than the line allows (a packet cannot carry a clock value from its future;
   * before the lock the line itself may still be late by the first packets' latency), and late by no more than any
   * latency explains.
   */
  private plausible(u: number, y: number): boolean {
    const fit = this.window.lastFit;
    if (fit === null) return true;
    const deviation = y - (fit.intercept + fit.slope * u);
    // Before the lock, lateness is no evidence: the line may still be the nominal rate of a clock that is not.
    if (!fit.locked) return deviation >= -EARLY_TOLERANCE_UNLOCKED_NS;
    return deviation >= -(EARLY_TOLERANCE_NS + fit.uncertainty) && deviation <= LATE_TOLERANCE_NS;
  }

  /** Counts a refused sample; enough refused samples that agree with each other start a new run. */
  private reject(stc: number, hostNs: number): void {
    this.rejected++;
    if (this.candidateCount > 0) {
      const ext = this.unwrap(stc, hostNs, this.candidateStc, this.candidateStc, this.candidateHostNs);
      const stepNs = hostNs - this.candidateHostNs - (ext - this.candidateStc) * this.nsPerTick;
      if (Math.abs(stepNs) <= STEP_TOLERANCE_NS + 0.02 * Math.abs(hostNs - this.candidateHostNs)) {
        if (++this.candidateCount >= RESET_AFTER) {
          this.resetCount++;
          this.candidateCount = 0;
          this.start(this.candidateStc, -1, this.candidateHostNs);
          this.accept(stc, ext, hostNs);
        }
        return;
      }
    }
    this.candidateStc = stc;
    this.candidateHostNs = hostNs;
    this.candidateCount = 1;
  }

  /**
   * Does the SOF advance at 1 kHz with the device clock? Checked between samples at least SOF_CHECK_SPAN_MS
   * apart (the STC may be sampled anywhere in a frame: one frame of slack), judged over the last SOF_HISTORY
   * checks.
   */
  private checkSof(stcExt: number, sof: number): void {
    if (this.sofForced || sof < 0) return;
    if (this.sofRefSof < 0) {
      this.sofRefStc = stcExt;
      this.sofRefSof = sof;
      return;
    }
    const elapsedMs = (stcExt - this.sofRefStc) * this.nsPerTick * 1e-6;
    if (elapsedMs < SOF_CHECK_SPAN_MS) return;
    if (elapsedMs <= 1000) {
      const advanced = (sof - this.sofRefSof + SOF_MODULO) % SOF_MODULO;
      const mismatch = Math.abs(advanced - elapsedMs) > 1.5 + 0.005 * elapsedMs ? 1 : 0;
      const slot = this.sofChecks % SOF_HISTORY;
      this.sofMismatches += mismatch - this.sofHistory[slot]!;
      this.sofHistory[slot] = mismatch;
      this.sofChecks++;
      if (this.sofChecks >= SOF_HISTORY / 2) {
        const judged = Math.min(this.sofChecks, SOF_HISTORY);
        if (this.sofMismatches * 2 > judged) this.sofVerdict = 'invalid';
        else if (this.sofMismatches * 8 < judged) this.sofVerdict = 'valid';
      }
    }
    this.sofRefStc = stcExt;
    this.sofRefSof = sof;
  }
}
