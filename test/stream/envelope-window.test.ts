/**
 * EnvelopeWindow reads full blocks by their own hull vertices (see envelope-window.ts): its fits must be those of
 * a pass over every point. The reference below is that pass (the window as it was before blocks), fed the same
 * points; scenarios cover filling, sliding by time and by capacity, the pending bucket's replacement, points from
 * an older bucket, restarts, prior and fitted slopes, refused slopes, and late spikes.
 */
import { describe, expect, it } from 'vitest';
import { EnvelopeWindow, type EnvelopeFit, type EnvelopeWindowOptions } from '../../src/stream/envelope-window.js';
import { lowerEnvelope } from '../../src/stream/lower-envelope.js';
import { Random } from './helpers/random.js';

const FLOOR_RANK = 8;

/** Every point, every fit: the straightforward window. */
class ReferenceWindow {
  private readonly capacity: number;
  private readonly us: Float64Array;
  private readonly ys: Float64Array;
  private head = 0;
  private count = 0;
  private pendingBucket = Number.NaN;
  private pendingU = 0;
  private pendingY = 0;
  private wasLocked = false;
  private priorSlope = 0;

  constructor(private readonly options: EnvelopeWindowOptions) {
    this.capacity = Math.ceil(options.windowNs / options.bucketNs) + 2;
    this.us = new Float64Array(this.capacity);
    this.ys = new Float64Array(this.capacity);
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.pendingBucket = Number.NaN;
    this.wasLocked = false;
  }

  add(u: number, y: number): void {
    const bucket = Math.floor(u / this.options.bucketNs);
    if (bucket === this.pendingBucket) {
      if (y < this.pendingY) {
        this.pendingU = u;
        this.pendingY = y;
      }
      return;
    }
    if (!Number.isNaN(this.pendingBucket)) {
      if (bucket < this.pendingBucket) return;
      const tail = (this.head + this.count) % this.capacity;
      this.us[tail] = this.pendingU;
      this.ys[tail] = this.pendingY;
      if (this.count < this.capacity) this.count++;
      else this.head = (this.head + 1) % this.capacity;
      while (this.count > 1 && this.pendingU - this.us[this.head]! > this.options.windowNs) {
        this.head = (this.head + 1) % this.capacity;
        this.count--;
      }
    }
    this.pendingBucket = bucket;
    this.pendingU = u;
    this.pendingY = y;
  }

  /** Every point held, the pending one last. */
  points(): { us: number[]; ys: number[] } {
    const us: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < this.count; i++) {
      us.push(this.us[(this.head + i) % this.capacity]!);
      ys.push(this.ys[(this.head + i) % this.capacity]!);
    }
    if (!Number.isNaN(this.pendingBucket)) {
      us.push(this.pendingU);
      ys.push(this.pendingY);
    }
    return { us, ys };
  }

  fit(): EnvelopeFit | null {
    const { us, ys } = this.points();
    const n = us.length;
    if (n === 0) return null;
    const xs = Float64Array.from(us);
    const yv = Float64Array.from(ys);
    const hull = new Int32Array(n);
    const span = xs[n - 1]! - xs[0]!;
    let free = span >= this.options.fitSpanNs && n >= 2 * FLOOR_RANK;
    let line = lowerEnvelope(xs, yv, n, free ? null : this.priorSlope, hull);
    if (line === null) return null;
    if (Math.abs(line.slope) > this.options.maxSlope) {
      if (span >= this.options.refuseBeyondNs) return null;
      free = false;
      line = lowerEnvelope(xs, yv, n, this.priorSlope, hull)!;
    }
    const k = Math.min(FLOOR_RANK, n >> 1);
    const residuals = us.map((u, i) => ys[i]! - (line.intercept + line.slope * u)).sort((a, b) => a - b);
    let uncertainty = n < 2 ? Number.POSITIVE_INFINITY : (3 * residuals[k - 1]!) / k;
    if (!free) uncertainty += (this.options.priorSlopeError * span) / 2;
    const limit = this.options.lockUncertaintyNs * (this.wasLocked ? 10 : 1);
    const locked = span >= this.options.lockSpanNs && n >= 2 * FLOOR_RANK && uncertainty <= limit;
    this.wasLocked = locked;
    if (locked && free) this.priorSlope = line.slope;
    return { intercept: line.intercept, slope: line.slope, uncertainty, locked };
  }
}

function expectSameFit(actual: EnvelopeFit | null, expected: EnvelopeFit | null, where: string): void {
  if (expected === null || actual === null) {
    expect(actual, where).toEqual(expected);
    return;
  }
  const close = (a: number, b: number) => a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  expect(actual.locked, where).toBe(expected.locked);
  for (const key of ['intercept', 'slope', 'uncertainty'] as const) {
    if (!close(actual[key], expected[key])) expect(actual[key], `${where}: ${key}`).toBe(expected[key]);
  }
}

interface Scenario {
  name: string;
  options: EnvelopeWindowOptions;
  /** Nominal spacing of points in u, ns. */
  stepNs: number;
  points: number;
  /** The clock's rate error (slope of the true line). */
  slope: number;
  /** Mean latency, ns, and how often a very late point (a stall) comes. */
  latencyNs: number;
  spikes: number;
  /** Chance per point of a restart (clear()). */
  restarts?: number;
  /** Latencies rounded to this many ns (a coarse host clock: many equal residuals). */
  quantumNs?: number;
}

const BUS: EnvelopeWindowOptions = {
  windowNs: 10_000_000_000,
  bucketNs: 4_000_000,
  fitSpanNs: 1_000_000_000,
  priorSlopeError: 50e-6,
  lockSpanNs: 250_000_000,
  lockUncertaintyNs: 25_000,
  maxSlope: 0.001,
  refuseBeyondNs: Number.POSITIVE_INFINITY,
};
const CLOCK: EnvelopeWindowOptions = {
  windowNs: 8_000_000_000,
  bucketNs: 4_000_000,
  fitSpanNs: 1_000_000_000,
  priorSlopeError: 100e-6,
  lockSpanNs: 250_000_000,
  lockUncertaintyNs: 50_000,
  maxSlope: 0.01,
  refuseBeyondNs: 4_000_000_000,
};
/** A small window, so that it slides by time and by capacity many times over. */
const SMALL: EnvelopeWindowOptions = { ...BUS, windowNs: 400_000_000, bucketNs: 1_000_000, fitSpanNs: 100_000_000, lockSpanNs: 50_000_000 };

const SCENARIOS: Scenario[] = [
  { name: 'bus timeline: 4 ms transfers, jittery completions', options: BUS, stepNs: 4_000_000, points: 6000, slope: 30e-6, latencyNs: 300_000, spikes: 0.02 },
  { name: 'device clock: 1 ms SCRs, several per bucket', options: CLOCK, stepNs: 1_000_000, points: 20_000, slope: -80e-6, latencyNs: 150_000, spikes: 0.01 },
  { name: 'small window sliding, restarts', options: SMALL, stepNs: 700_000, points: 8000, slope: 5e-6, latencyNs: 50_000, spikes: 0.05, restarts: 0.002 },
  { name: 'a clock far off (slope refused)', options: CLOCK, stepNs: 3_000_000, points: 3000, slope: 0.05, latencyNs: 100_000, spikes: 0 },
  { name: 'no jitter at all (collinear points)', options: SMALL, stepNs: 1_000_000, points: 3000, slope: 0, latencyNs: 0, spikes: 0 },
  { name: 'no jitter, a sloped line (points off it by rounding only)', options: CLOCK, stepNs: 1_300_000, points: 20_000, slope: 37e-6, latencyNs: 0, spikes: 0 },
  { name: 'latencies quantised to 1 µs (equal residuals)', options: CLOCK, stepNs: 900_000, points: 20_000, slope: -12e-6, latencyNs: 3_000, spikes: 0.01, quantumNs: 1000 },
];

/** Feeds a scenario's points to the windows, calling `check` after each point (restarts included). */
function feed(scenario: Scenario, windows: { add(u: number, y: number): void; clear(): void }[], check: (i: number) => void): void {
  const random = new Random(0x5eed + scenario.points);
  let u = 0;
  for (let i = 0; i < scenario.points; i++) {
    if (scenario.restarts !== undefined && random.chance(scenario.restarts)) {
      for (const w of windows) w.clear();
      u = 0;
    }
    // Mostly forward, sometimes a point of an older bucket (ignored by both) or of the same one.
    const back = random.chance(0.01);
    u = back ? Math.max(0, u - 3 * scenario.options.bucketNs) : u + scenario.stepNs * (0.5 + random.next());
    let latency = scenario.latencyNs > 0 ? random.exponential(scenario.latencyNs) : 0;
    if (scenario.quantumNs !== undefined) latency = Math.round(latency / scenario.quantumNs) * scenario.quantumNs;
    const spike = random.chance(scenario.spikes) ? random.exponential(20_000_000) : 0;
    const y = 12_345 + scenario.slope * u + latency + spike;
    for (const w of windows) w.add(u, y);
    check(i);
  }
}

describe('EnvelopeWindow: fits as a pass over every point would', () => {
  for (const scenario of SCENARIOS) {
    it(scenario.name, () => {
      const random = new Random(0xf17);
      const fast = new EnvelopeWindow(scenario.options);
      const full = new EnvelopeWindow({ ...scenario.options, fullRefit: true });
      const reference = new ReferenceWindow(scenario.options);
      let fits = 0;
      feed(scenario, [fast, full, reference], (i) => {
        if (random.chance(0.2)) {
          const expected = reference.fit();
          expectSameFit(fast.fit(), expected, `${scenario.name}, point ${i}`);
          expectSameFit(full.fit(), expected, `${scenario.name}, point ${i}, a pass per fit`);
          fits++;
        }
      });
      expect(fits).toBeGreaterThan(scenario.points / 10);
      expectSameFit(fast.fit(), reference.fit(), `${scenario.name}, at the end`);
      expect(full.counts.passes).toBe(full.counts.fits);
    });
  }
});

/** The certificate's tolerance (envelope-window.ts: TOUCH_TOLERANCE relative to the terms of a residual). */
function touchTolerance(fit: EnvelopeFit, us: readonly number[]): number {
  return 1e-14 * (Math.abs(fit.intercept) + Math.max(Math.abs(us[0]!), Math.abs(us[us.length - 1]!)));
}

describe('EnvelopeWindow: a fit reuses the last line only while that line provably answers', () => {
  for (const scenario of SCENARIOS) {
    it(scenario.name, () => {
      const window = new EnvelopeWindow(scenario.options);
      const reference = new ReferenceWindow(scenario.options);
      let reused = 0;
      let fitted = 0;
      feed(scenario, [window, reference], () => {
        const before = { ...window.counts };
        const fit = window.fit();
        if (window.counts.fits === before.fits) return; // unchanged points: the last answer
        fitted++;
        if (window.counts.passes !== before.passes || fit === null) return;
        reused++;
        // The invariant that lets the pass be skipped: no point below the line, and points touching it at or
        // before the mean and at or after it (then the line is the highest under the points at the mean).
        const { us, ys } = reference.points();
        const tolerance = touchTolerance(fit, us) * 2;
        const mean = us.reduce((a, b) => a + b, 0) / us.length;
        let before_ = false;
        let after = false;
        for (let i = 0; i < us.length; i++) {
          const r = ys[i]! - (fit.intercept + fit.slope * us[i]!);
          if (r < -tolerance) expect(r, `point ${i} of ${us.length} is below a reused line`).toBeGreaterThanOrEqual(-tolerance);
          if (Math.abs(r) <= tolerance) {
            if (us[i]! <= mean) before_ = true;
            if (us[i]! >= mean) after = true;
          }
        }
        expect(before_ && after, 'a reused line touches points on both sides of the mean').toBe(true);
      });
      expect(fitted).toBeGreaterThan(scenario.points / 8);
      // Where the slope gets fitted (not refused), most fits reuse the line: a pass is the exception.
      if (scenario.slope < scenario.options.maxSlope) expect(reused, `${reused} of ${fitted} fits reused`).toBeGreaterThan(fitted / 2);
    });
  }
});
