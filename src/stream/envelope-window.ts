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
import { pushLowerHull } from './lower-envelope.js';

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

/** A fit as fit() and lastFit give it: the window's own record, rewritten by the next fit (read it, do not keep it). */
export interface EnvelopeFit {
  intercept: number;
  slope: number;
  /** The fit's own error estimate, ns (Infinity with a single point). */
  uncertainty: number;
  locked: boolean;
}

/** Rank of the residual that measures the density of arrivals near the floor. */
const FLOOR_RANK = 8;
/**
 * Points per block. A block's own lower hull is kept from when its last point came in: a point above it is on
 * no hull of a window that holds the whole block, and no nearer the line than the block's nearest vertex. So a
 * fit reads a few vertices per full block instead of every point (a window of 2 500 points holds ~80 blocks of a
 * handful of vertices each), and steady streaming refits for a small fraction of what a pass over every point
 * costs. Results are those of such a pass up to floating-point rounding (the sum for the mean is added up per
 * block; test/stream/envelope-window.test.ts holds the two together).
 */
const BLOCK = 32;
const BLOCK_SHIFT = 5;

export class EnvelopeWindow {
  /** Most points held; the oldest goes when a new one would exceed it. */
  private readonly capacity: number;
  /** Storage: a ring of whole blocks, more than `capacity` points. */
  private readonly ringSize: number;
  /** Points by ring position; one more slot, at ringSize, holds the pending point during a fit. */
  private readonly us: Float64Array;
  private readonly ys: Float64Array;
  private head = 0;
  private count = 0;
  /** Per block of the ring: its hull vertices (ring positions, at block × BLOCK), their number (0: the block is not complete), the sum of its u. */
  private readonly blockHull: Int32Array;
  private readonly blockHullSize: Int32Array;
  private readonly blockSum: Float64Array;
  private pendingBucket = Number.NaN;
  private pendingU = 0;
  private pendingY = 0;
  private dirty = true;
  private fitted: EnvelopeFit | null = null;
  /** What `fitted` points to after a fit: one record, rewritten per fit (the clock refits per frame: no allocation). */
  private readonly record: EnvelopeFit = { intercept: 0, slope: 0, uncertainty: 0, locked: false };
  private wasLocked = false;
  /** The slope of the last locked fit: a crystal's rate error outlives a restart. */
  private priorSlope = 0;
  /** The hull of a fit's candidates, as ring positions (see candidates in fit()). */
  private readonly hull: Int32Array;
  /** Left by chain(): the sum of every point's u (the mean's numerator). */
  private chainSum = 0;
  private readonly lowest = new Float64Array(FLOOR_RANK);

  constructor(private readonly options: EnvelopeWindowOptions) {
    this.capacity = Math.ceil(options.windowNs / options.bucketNs) + 2;
    this.ringSize = Math.ceil((this.capacity + 1) / BLOCK) * BLOCK;
    this.us = new Float64Array(this.ringSize + 1);
    this.ys = new Float64Array(this.ringSize + 1);
    this.blockHull = new Int32Array(this.ringSize);
    this.blockHullSize = new Int32Array(this.ringSize / BLOCK);
    this.blockSum = new Float64Array(this.ringSize / BLOCK);
    this.hull = new Int32Array(this.ringSize + 1);
  }

  /** Forgets the points (not the prior slope). */
  clear(): void {
    this.head = 0;
    this.count = 0;
    this.blockHullSize.fill(0);
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

  /**
   * The line through the current points (refitted if they changed); null without points or with a refused slope.
   * A fit reads candidates in order of u: the points of partial blocks, the hull vertices of full ones, then the
   * pending point (at ring position ringSize). They are read where they lie in the ring, not copied out.
   */
  fit(): EnvelopeFit | null {
    if (!this.dirty) return this.fitted;
    this.dirty = false;
    this.fitted = null;
    const n = this.size;
    if (n === 0) return null;
    const { us, ys, ringSize } = this;
    const pending = !Number.isNaN(this.pendingBucket);
    if (pending) {
      us[ringSize] = this.pendingU;
      ys[ringSize] = this.pendingY;
    }
    // The first candidate is the first point (a block's hull begins with its first point), the last the pending
    // point or the last point (a hull ends with its last).
    const firstU = this.count > 0 ? us[this.head]! : this.pendingU;
    const lastU = pending ? this.pendingU : us[(this.head + this.count - 1) % ringSize]!;
    const span = lastU - firstU;
    let free = span >= this.options.fitSpanNs && n >= 2 * FLOOR_RANK;
    let intercept: number;
    let slope: number;
    if (free) {
      const size = this.chain(pending);
      if (size < 2) return null;
      // The edge that spans the mean (the last edge when rounding puts the mean past the end): lower-envelope.ts.
      const mean = this.chainSum / n;
      const hull = this.hull;
      let edge = 0;
      while (edge < size - 2 && us[hull[edge + 1]!]! < mean) edge++;
      const a = hull[edge]!;
      const b = hull[edge + 1]!;
      slope = (ys[b]! - ys[a]!) / (us[b]! - us[a]!);
      intercept = ys[a]! - slope * us[a]!;
      if (Math.abs(slope) > this.options.maxSlope) {
        if (span >= this.options.refuseBeyondNs) return null;
        free = false;
      }
    }
    if (!free) {
      slope = this.priorSlope;
      intercept = this.floor(slope, pending);
    }
    let uncertainty = this.uncertainty(n, intercept!, slope!);
    // On the prior slope, a clock off by priorSlopeError drifts that much over half the window.
    if (!free) uncertainty += (this.options.priorSlopeError * span) / 2;
    // Locked once under the threshold; it stays locked until the estimate is ten times over (a new fit, more
    // points, can move the estimate without anything going wrong).
    const limit = this.options.lockUncertaintyNs * (this.wasLocked ? 10 : 1);
    const locked = span >= this.options.lockSpanNs && n >= 2 * FLOOR_RANK && uncertainty <= limit;
    this.wasLocked = locked;
    if (locked && free) this.priorSlope = slope!;
    const record = this.record;
    record.intercept = intercept!;
    record.slope = slope!;
    record.uncertainty = uncertainty;
    record.locked = locked;
    this.fitted = record;
    return record;
  }

  /**
   * The lower hull of the candidates into this.hull, returning its size (lowerEnvelope's monotone chain, point for
   * point), and the sum of every point's u into chainSum (block sums for full blocks, in candidate order).
   */
  private chain(pending: boolean): number {
    const { us, ys, blockHull, blockHullSize, blockSum, ringSize } = this;
    const stack = this.hull;
    let size = 0;
    let sum = 0;
    let position = this.head;
    for (let left = this.count; left > 0; ) {
      const block = position >> BLOCK_SHIFT;
      if (left >= BLOCK && (position & (BLOCK - 1)) === 0 && blockHullSize[block]! > 0) {
        for (let j = 0, vertices = blockHullSize[block]!; j < vertices; j++) size = pushLowerHull(us, ys, stack, 0, size, blockHull[position + j]!);
        sum += blockSum[block]!;
        position += BLOCK;
        left -= BLOCK;
      } else {
        size = pushLowerHull(us, ys, stack, 0, size, position);
        sum += us[position]!;
        position++;
        left--;
      }
      if (position === ringSize) position = 0;
    }
    if (pending) {
      size = pushLowerHull(us, ys, stack, 0, size, ringSize);
      sum += us[ringSize]!;
    }
    this.chainSum = sum;
    return size;
  }

  /** The intercept of the line of slope `slope` through the lowest candidate (the first of equals, in order). */
  private floor(slope: number, pending: boolean): number {
    const { us, ys, blockHull, blockHullSize, ringSize } = this;
    let intercept = Infinity;
    let position = this.head;
    for (let left = this.count; left > 0; ) {
      const block = position >> BLOCK_SHIFT;
      if (left >= BLOCK && (position & (BLOCK - 1)) === 0 && blockHullSize[block]! > 0) {
        for (let j = 0, vertices = blockHullSize[block]!; j < vertices; j++) {
          const at = blockHull[position + j]!;
          const candidate = ys[at]! - slope * us[at]!;
          if (candidate < intercept) intercept = candidate;
        }
        position += BLOCK;
        left -= BLOCK;
      } else {
        const candidate = ys[position]! - slope * us[position]!;
        if (candidate < intercept) intercept = candidate;
        position++;
        left--;
      }
      if (position === ringSize) position = 0;
    }
    if (pending) {
      const candidate = ys[ringSize]! - slope * us[ringSize]!;
      if (candidate < intercept) intercept = candidate;
    }
    return intercept;
  }

  private push(u: number, y: number): void {
    const ringSize = this.ringSize;
    if (this.count === this.capacity) {
      // Full: the oldest point goes.
      this.head = this.head + 1 === ringSize ? 0 : this.head + 1;
      this.count--;
    }
    const tail = (this.head + this.count) % ringSize;
    const offset = tail & (BLOCK - 1);
    // A block's hull is made when its last point comes in, and forgotten when its first is written over.
    if (offset === 0) this.blockHullSize[tail >> BLOCK_SHIFT] = 0;
    this.us[tail] = u;
    this.ys[tail] = y;
    if (offset === BLOCK - 1) this.completeBlock(tail - offset);
    this.count++;
    while (this.count > 1 && u - this.us[this.head]! > this.options.windowNs) {
      this.head = this.head + 1 === ringSize ? 0 : this.head + 1;
      this.count--;
    }
  }

  /** The lower hull and the sum of u of the block that begins at ring position `start`, now that it is full. */
  private completeBlock(start: number): void {
    const { us, ys, blockHull } = this;
    // The hull goes in the block's own slice of blockHull, as ring positions.
    let size = 0;
    let sum = 0;
    for (let at = start; at < start + BLOCK; at++) {
      size = pushLowerHull(us, ys, blockHull, start, size, at);
      sum += us[at]!;
    }
    this.blockHullSize[start / BLOCK] = size;
    this.blockSum[start / BLOCK] = sum;
  }

  /**
   * See the file comment: 3 × (J / N), J / N from the K-th least distance above the line. A full block whose
   * nearest hull vertex is no nearer than the K-th least so far holds no nearer point: it is not read.
   */
  private uncertainty(n: number, intercept: number, slope: number): number {
    if (n < 2) return Number.POSITIVE_INFINITY;
    const k = Math.min(FLOOR_RANK, n >> 1);
    const lowest = this.lowest;
    lowest.fill(Number.POSITIVE_INFINITY);
    const { us, ys, blockHull, blockHullSize, ringSize } = this;
    let position = this.head;
    for (let left = this.count; left > 0; ) {
      const block = position >> BLOCK_SHIFT;
      if (left >= BLOCK && (position & (BLOCK - 1)) === 0 && blockHullSize[block]! > 0) {
        let nearest = Number.POSITIVE_INFINITY;
        for (let j = 0, size = blockHullSize[block]!; j < size; j++) {
          const at = blockHull[position + j]!;
          const r = ys[at]! - (intercept + slope * us[at]!);
          if (r < nearest) nearest = r;
        }
        if (nearest < lowest[k - 1]!) {
          for (let at = position; at < position + BLOCK; at++) insertLowest(lowest, k, ys[at]! - (intercept + slope * us[at]!));
        }
        position += BLOCK;
        left -= BLOCK;
      } else {
        insertLowest(lowest, k, ys[position]! - (intercept + slope * us[position]!));
        position++;
        left--;
      }
      if (position === ringSize) position = 0;
    }
    if (!Number.isNaN(this.pendingBucket)) insertLowest(lowest, k, this.pendingY - (intercept + slope * this.pendingU));
    return (3 * lowest[k - 1]!) / k;
  }
}

/** Keeps the k least values seen in lowest[0, k), in increasing order. */
function insertLowest(lowest: Float64Array, k: number, r: number): void {
  if (r >= lowest[k - 1]!) return;
  let j = k - 1;
  while (j > 0 && lowest[j - 1]! > r) {
    lowest[j] = lowest[j - 1]!;
    j--;
  }
  lowest[j] = r;
}
