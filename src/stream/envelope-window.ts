/**
 * A sliding window of (u, y) points whose y is late by a latency that only adds, and the line under them
 * (lower-envelope.ts). u is a clock's reading in nominal nanoseconds since a base; y is how much later than
 * that the host saw it, so the line's slope is the clock's rate error and its intercept the offset, both small
 * numbers a double keeps exact.
 *
 * - Points are thinned to the least delayed one per `bucketNs` of u; the window keeps `windowNs` of u.
 * - The slope is `priorSlope` (0, or what an earlier fit found) until the window spans `fitSpanNs`, then fitted.
 * - The fit estimates its own error: the least delayed of N arrivals spread over J is late by about J / N, and
 *   the line rests on about three such points. J / N is read from the distances above the line of the K least
 *   delayed points (the K-th is about K·J/N), which depends on how dense arrivals are near the floor, not on the
 *   tail of late ones. The window is locked when it spans `lockSpanNs` and that estimate is under
 *   `lockUncertaintyNs` (before `fitSpanNs`, on the prior slope: a crystal's 100 ppm cost 25 µs over 250 ms).
 */
import { lowerEnvelope } from './lower-envelope.js';

export interface EnvelopeWindowOptions {
  windowNs: number;
  bucketNs: number;
  /** The window may lock once it spans this much (with the prior slope, or a fitted one). */
  lockSpanNs: number;
  /** The slope is fitted only once the window spans this much: shorter, a few late points tilt it. */
  fitSpanNs: number;
  /** How far the true slope may be from the prior one: counted in the error estimate until the slope is fitted. */
  priorSlopeError: number;
  lockUncertaintyNs: number;
  /**
   * A fitted slope beyond ± this is not believed: a burst of late points (a stalled process) can tilt a short
   * window that far. The line then keeps the prior slope, unlocked; and when the window spans
   * `refuseBeyondNs` and still fits that slope, the clock really runs that far off: no line at all.
   */
  maxSlope: number;
  refuseBeyondNs: number;
}

export interface EnvelopeFit {
  intercept: number;
  slope: number;
  /** The fit's own error estimate, ns (Infinity with a single point). */
  uncertainty: number;
  locked: boolean;
}

/** Rank of the residual that measures the density of arrivals near the floor. */
const FLOOR_RANK = 8;

export class EnvelopeWindow {
  private readonly capacity: number;
  private readonly us: Float64Array;
  private readonly ys: Float64Array;
  private head = 0;
  private count = 0;
  private pendingBucket = Number.NaN;
  private pendingU = 0;
  private pendingY = 0;
  private dirty = true;
  private fitted: EnvelopeFit | null = null;
  private wasLocked = false;
  /** The slope of the last locked fit: a crystal's rate error outlives a restart. */
  private priorSlope = 0;
  private readonly scratchU: Float64Array;
  private readonly scratchY: Float64Array;
  private readonly hull: Int32Array;
  private readonly lowest = new Float64Array(FLOOR_RANK);

  constructor(private readonly options: EnvelopeWindowOptions) {
    this.capacity = Math.ceil(options.windowNs / options.bucketNs) + 2;
    this.us = new Float64Array(this.capacity);
    this.ys = new Float64Array(this.capacity);
    this.scratchU = new Float64Array(this.capacity + 1);
    this.scratchY = new Float64Array(this.capacity + 1);
    this.hull = new Int32Array(this.capacity + 1);
  }

  /** Forgets the points (not the prior slope). */
  clear(): void {
    this.head = 0;
    this.count = 0;
    this.pendingBucket = Number.NaN;
    this.dirty = true;
    this.fitted = null;
    this.wasLocked = false;
  }

  /** Number of points (buckets) held. */
  get size(): number {
    return this.count + (Number.isNaN(this.pendingBucket) ? 0 : 1);
  }

  /** The line as last fitted, without refitting (null before any). */
  get lastFit(): EnvelopeFit | null {
    return this.fitted;
  }

  /** Adds a point; u must not go back by more than a bucket. */
  add(u: number, y: number): void {
    const bucket = Math.floor(u / this.options.bucketNs);
    if (bucket === this.pendingBucket) {
      if (y < this.pendingY) {
        this.pendingU = u;
        this.pendingY = y;
        this.dirty = true;
      }
      return;
    }
    if (!Number.isNaN(this.pendingBucket)) {
      if (bucket < this.pendingBucket) return; // older than the newest bucket: adds nothing
      this.push(this.pendingU, this.pendingY);
    }
    this.pendingBucket = bucket;
    this.pendingU = u;
    this.pendingY = y;
    this.dirty = true;
  }

  /** The line through the current points (refitted if they changed); null without points or with a refused slope. */
  fit(): EnvelopeFit | null {
    if (!this.dirty) return this.fitted;
    this.dirty = false;
    this.fitted = null;
    const us = this.scratchU;
    const ys = this.scratchY;
    let n = 0;
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) % this.capacity;
      us[n] = this.us[at]!;
      ys[n] = this.ys[at]!;
      n++;
    }
    if (!Number.isNaN(this.pendingBucket)) {
      us[n] = this.pendingU;
      ys[n] = this.pendingY;
      n++;
    }
    if (n === 0) return null;
    const span = us[n - 1]! - us[0]!;
    let free = span >= this.options.fitSpanNs && n >= 2 * FLOOR_RANK;
    let line = lowerEnvelope(us, ys, n, free ? null : this.priorSlope, this.hull);
    if (line === null) return null;
    if (Math.abs(line.slope) > this.options.maxSlope) {
      if (span >= this.options.refuseBeyondNs) return null;
      free = false;
      line = lowerEnvelope(us, ys, n, this.priorSlope, this.hull)!;
    }
    let uncertainty = this.uncertainty(us, ys, n, line.intercept, line.slope);
    // On the prior slope, a clock off by priorSlopeError drifts that much over half the window.
    if (!free) uncertainty += (this.options.priorSlopeError * span) / 2;
    // Locked once under the threshold; it stays locked until the estimate is ten times over (a new fit, more
    // points, can move the estimate without anything going wrong).
    const limit = this.options.lockUncertaintyNs * (this.wasLocked ? 10 : 1);
    const locked = span >= this.options.lockSpanNs && n >= 2 * FLOOR_RANK && uncertainty <= limit;
    this.wasLocked = locked;
    if (locked && free) this.priorSlope = line.slope;
    this.fitted = { intercept: line.intercept, slope: line.slope, uncertainty, locked };
    return this.fitted;
  }

  private push(u: number, y: number): void {
    const capacity = this.capacity;
    const tail = (this.head + this.count) % capacity;
    this.us[tail] = u;
    this.ys[tail] = y;
    if (this.count < capacity) this.count++;
    else this.head = (this.head + 1) % capacity;
    while (this.count > 1 && u - this.us[this.head]! > this.options.windowNs) {
      this.head = (this.head + 1) % capacity;
      this.count--;
    }
  }

  /** See the file comment: 3 × (J / N), J / N from the K-th least distance above the line. */
  private uncertainty(us: Float64Array, ys: Float64Array, n: number, intercept: number, slope: number): number {
    if (n < 2) return Number.POSITIVE_INFINITY;
    const k = Math.min(FLOOR_RANK, n >> 1);
    const lowest = this.lowest;
    lowest.fill(Number.POSITIVE_INFINITY);
    for (let i = 0; i < n; i++) {
      const r = ys[i]! - (intercept + slope * us[i]!);
      if (r >= lowest[k - 1]!) continue;
      let j = k - 1;
      while (j > 0 && lowest[j - 1]! > r) {
        lowest[j] = lowest[j - 1]!;
        j--;
      }
      lowest[j] = r;
    }
    return (3 * lowest[k - 1]!) / k;
  }
}
