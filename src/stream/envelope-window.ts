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
 * - A fitted line is not refitted while it provably stays the answer (fit-certificate.ts): each new point is
 *   checked once against it, and a pass over the window is made only when one lies below it, when it no longer
 *   touches points on both sides of the mean, or before the slope is fitted. In a steady stream that is one pass
 *   in tens of fits (bench/clock-fit.ts: 1 in 17 to 1 in 140), where every fit (one per frame) used to be one.
 * - A pass reads the blocks' hull vertices for its line; the least residuals it needs are carried over from the
 *   last line when they provably stay the least (leastResiduals), else read from the blocks that can hold them
 *   (scanLowest). Either way every output is the one a pass over every point gives (fullRefit, the reference).
 */
import { FitCertificate, KEPT_RESIDUALS } from './fit-certificate.js';
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
  /**
   * Make every fit a pass over the whole window, as before fits were reused (the reference the tests hold the
   * reuse to; slower, and within rounding of the same answers).
   */
  fullRefit?: boolean;
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
/**
 * "Touching" and "below" the line are decided within this much of it, relative to the size of the terms of a
 * residual (y − (intercept + slope·u), where y carries the rounding of u itself): about 45 times their rounding
 * (2^-52 each), so that rounding never makes a point that touches the line look below it or apart from it, and
 * still 0.1 ns after three hours of u. The reused line is within this of the exact optimum at the mean.
 */
const TOUCH_TOLERANCE = 1e-14;
/**
 * A carried-over residual is kept only when it is below the bound by this much relative to the size of the terms
 * involved (far above the rounding of computing a residual twice, and of the bound itself).
 */
const RELINE_MARGIN = 1e-12;

export class EnvelopeWindow {
  /** Most points held; the oldest goes when a new one would exceed it. */
  private readonly capacity: number;
  private readonly bucketNs: number;
  private readonly windowNs: number;
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
  /** The hull's vertices' coordinates, beside their positions in `hull`. */
  private readonly hullU: Float64Array;
  private readonly hullY: Float64Array;
  /** scanLowest's scratch: each full block's least residual, and the least residuals seen in its first sweep. */
  private readonly blockNearest: Float64Array;
  private readonly sweepLeast = new Float64Array(KEPT_RESIDUALS);
  /** The sum of u of the points in the ring (not the pending one): kept per push and expiry, resummed by a pass. */
  private ringSum = 0;
  /** Updates of ringSum since it was last summed afresh (its rounding drift is bounded by resumming). */
  private ringSumAge = 0;
  /**
   * Fits computed (not answered unchanged from the last), of those the passes (not answered by the certificate;
   * `relines` of them carried the least residuals over to their line instead of reading every block), and the times
   * a line's least residuals were read afresh (diagnostics, and what the tests check reuse by).
   */
  readonly counts = { fits: 0, passes: 0, rescans: 0, relines: 0 };
  /**
   * The line whose least residuals the certificate's list holds (`kept`: for the ring's points but the newest
   * `unchecked`), so that a pass can carry them over to its new line (leastResiduals) instead of a scan.
   */
  private readonly listLine = { kept: false, intercept: 0, slope: 0 };
  /** Points pushed into the ring that the certificate has not yet checked (the newest ones). */
  private unchecked = 0;
  /** Why the last fitted line may stand (fit-certificate.ts); also holds the least residuals a pass found. */
  private readonly certificate: FitCertificate;

  constructor(private readonly options: EnvelopeWindowOptions) {
    this.capacity = Math.ceil(options.windowNs / options.bucketNs) + 2;
    this.bucketNs = options.bucketNs;
    this.windowNs = options.windowNs;
    this.ringSize = Math.ceil((this.capacity + 1) / BLOCK) * BLOCK;
    this.us = new Float64Array(this.ringSize + 1);
    this.ys = new Float64Array(this.ringSize + 1);
    this.blockHull = new Int32Array(this.ringSize);
    this.blockHullSize = new Int32Array(this.ringSize / BLOCK);
    this.blockSum = new Float64Array(this.ringSize / BLOCK);
    this.hull = new Int32Array(this.ringSize + 1);
    this.hullU = new Float64Array(this.ringSize + 1);
    this.hullY = new Float64Array(this.ringSize + 1);
    this.blockNearest = new Float64Array(this.ringSize / BLOCK);
    this.certificate = new FitCertificate(this.ringSize);
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
    this.ringSum = 0;
    this.ringSumAge = 0;
    this.unchecked = 0;
    this.certificate.valid = false;
    this.listLine.kept = false;
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
    const bucket = Math.floor(u / this.bucketNs);
    if (bucket === this.pendingBucket) {
      // Most points (several per bucket): kept only when less delayed than the pending one.
      if (y < this.pendingY) {
        this.pendingU = u;
        this.pendingY = y;
        this.dirty = true;
      }
      return;
    }
    this.newBucket(bucket, u, y);
  }

  /** A point in another bucket than the pending one: the pending point goes into the ring and this one waits. */
  private newBucket(bucket: number, u: number, y: number): void {
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
    this.counts.fits++;
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
    let uncertainty: number;
    const k = Math.min(FLOOR_RANK, n >> 1);
    const certificate = this.certificate;
    if (free && this.options.fullRefit !== true && this.stillFits(n, pending)) {
      intercept = certificate.intercept;
      slope = certificate.slope;
      uncertainty = this.uncertaintyFromKept(n, k, pending, intercept, slope);
    } else {
      this.counts.passes++;
      certificate.valid = false;
      const fresh = this.unchecked;
      this.unchecked = 0;
      if (free) {
        this.ringSum = this.sumRing();
        this.ringSumAge = 0;
        const size = this.chain(pending);
        if (size < 2) {
          this.listLine.kept = false; // the fresh points were offered to no line
          return null;
        }
        // The edge that spans the mean (the last edge when rounding puts the mean past the end): lower-envelope.ts.
        const mean = (pending ? this.ringSum + this.pendingU : this.ringSum) / n;
        const hull = this.hull;
        const hullU = this.hullU;
        let edge = 0;
        while (edge < size - 2 && hullU[edge + 1]! < mean) edge++;
        const a = hull[edge]!;
        const b = hull[edge + 1]!;
        slope = (ys[b]! - ys[a]!) / (us[b]! - us[a]!);
        intercept = ys[a]! - slope * us[a]!;
        if (Math.abs(slope) > this.options.maxSlope) {
          if (span >= this.options.refuseBeyondNs) {
            this.listLine.kept = false; // the fresh points were offered to no line
            return null;
          }
          free = false;
        } else {
          certificate.reset(intercept, slope, TOUCH_TOLERANCE * (Math.abs(intercept) + Math.max(Math.abs(firstU), Math.abs(lastU))));
          // The edge's ends touch the line by construction (the pending point is checked at every fit instead).
          // When the first is the window's first point (an exact stream's hull is its first and last point) it
          // expires at once: then every candidate that touches the line is recorded, or the line would not last.
          if (a === this.head && this.count > 0) {
            this.recordTouching(intercept, slope);
          } else {
            if (a !== ringSize) certificate.addTouching(us[a]!);
            if (b !== ringSize) certificate.addTouching(us[b]!);
          }
        }
      }
      if (!free) {
        slope = this.priorSlope;
        intercept = this.floor(slope, pending);
      }
      this.leastResiduals(intercept!, slope!, fresh);
      uncertainty = this.uncertaintyFromKept(n, k, pending, intercept!, slope!);
      // On the prior slope, a clock off by priorSlopeError drifts that much over half the window.
      if (!free) uncertainty += (this.options.priorSlopeError * span) / 2;
    }
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
   * Whether the certificate's line is still the fit (fit-certificate.ts): the points new since the last fit are
   * checked against it once, the pending point at every fit (it may have been replaced by a lower one).
   */
  private stillFits(n: number, pending: boolean): boolean {
    const certificate = this.certificate;
    if (!certificate.valid) return false;
    const { us, ys, ringSize } = this;
    let position = this.head + this.count - this.unchecked;
    if (position >= ringSize) position -= ringSize;
    for (; this.unchecked > 0; this.unchecked--) {
      if (!certificate.admit(us[position]!, ys[position]!)) return false;
      position = position + 1 === ringSize ? 0 : position + 1;
    }
    const pendingR = pending ? this.pendingY - (certificate.intercept + certificate.slope * this.pendingU) : Number.NaN;
    if (pendingR < -certificate.tolerance) return false;
    if (this.ringSumAge > this.capacity) {
      this.ringSum = this.sumRing();
      this.ringSumAge = 0;
    }
    const mean = (pending ? this.ringSum + this.pendingU : this.ringSum) / n;
    return certificate.supports(mean, us[this.head]!, pendingR <= certificate.tolerance && this.pendingU >= mean);
  }

  /**
   * See the file comment: 3 × (J / N), J / N from the K-th least distance above the line, read from the kept least
   * residuals (rescanned against the same line when they no longer tell it).
   */
  private uncertaintyFromKept(n: number, k: number, pending: boolean, intercept: number, slope: number): number {
    if (n < 2) return Number.POSITIVE_INFINITY;
    const certificate = this.certificate;
    if (this.count > 0) certificate.expireLowest(this.us[this.head]!);
    const pendingR = pending ? this.pendingY - (intercept + slope * this.pendingU) : Number.NaN;
    let kth = certificate.kthLeast(k, pendingR);
    if (Number.isNaN(kth)) {
      this.counts.rescans++;
      this.scanLowest(intercept, slope);
      kth = certificate.kthLeast(k, pendingR);
    }
    return (3 * kth) / k;
  }

  /**
   * The certificate's least residuals for a pass's new line. Carried over from the line the list held (the
   * reference, `fullRefit`, always scans): each kept point's residual computed afresh, kept when it is provably
   * below every point not kept (no farther than the old largest kept, moved by the least the line fell anywhere
   * over the ring, less a margin for rounding), then the `fresh` points not yet offered. Else (nothing held, or
   * too few carried over for the error estimate) a scan.
   */
  private leastResiduals(intercept: number, slope: number, fresh: number): void {
    const listLine = this.listLine;
    const certificate = this.certificate;
    if (this.options.fullRefit !== true && listLine.kept && intercept === listLine.intercept && slope === listLine.slope) {
      // The same line (on the prior slope, the same floor): the list stands.
      this.counts.relines++;
      this.offerNewest(fresh, intercept, slope);
      return;
    }
    if (this.options.fullRefit !== true && listLine.kept && this.count > 0) {
      certificate.expireLowest(this.us[this.head]!);
      const largest = certificate.largestKept;
      if (certificate.lowestCount > 0) {
        const firstU = this.us[this.head]!;
        const lastU = this.us[(this.head + this.count - 1) % this.ringSize]!;
        // The least the new line is below the old one over the ring (a line: at an end): every residual grows by
        // at least this.
        const dIntercept = listLine.intercept - intercept;
        const dSlope = listLine.slope - slope;
        const fall = Math.min(dIntercept + dSlope * firstU, dIntercept + dSlope * lastU);
        const scale = Math.abs(listLine.intercept) + Math.abs(intercept) + (Math.abs(listLine.slope) + Math.abs(slope)) * Math.max(Math.abs(firstU), Math.abs(lastU)) + Math.abs(largest) + Math.abs(fall);
        certificate.reline(intercept, slope, largest + fall - RELINE_MARGIN * scale);
        if (certificate.lowestCount >= FLOOR_RANK) {
          this.counts.relines++;
          this.offerNewest(fresh, intercept, slope);
          listLine.intercept = intercept;
          listLine.slope = slope;
          return;
        }
      }
    }
    this.scanLowest(intercept, slope);
    listLine.kept = true;
    listLine.intercept = intercept;
    listLine.slope = slope;
  }

  /** Adds every candidate that touches the certificate's line to its touching points, in order of u. */
  private recordTouching(intercept: number, slope: number): void {
    const { us, ys, blockHull, blockHullSize, ringSize, certificate } = this;
    const tolerance = certificate.tolerance;
    let position = this.head;
    for (let left = this.count; left > 0; ) {
      const block = position >> BLOCK_SHIFT;
      if (left >= BLOCK && (position & (BLOCK - 1)) === 0 && blockHullSize[block]! > 0) {
        for (let j = 0, vertices = blockHullSize[block]!; j < vertices; j++) {
          const at = blockHull[position + j]!;
          if (ys[at]! - (intercept + slope * us[at]!) <= tolerance) certificate.addTouching(us[at]!);
        }
        position += BLOCK;
        left -= BLOCK;
      } else {
        if (ys[position]! - (intercept + slope * us[position]!) <= tolerance) certificate.addTouching(us[position]!);
        position++;
        left--;
      }
      if (position === ringSize) position = 0;
    }
  }

  /** Offers the residuals of the `fresh` newest points of the ring above the line to the certificate's list. */
  private offerNewest(fresh: number, intercept: number, slope: number): void {
    const { us, ys, ringSize, certificate } = this;
    let position = this.head + this.count - fresh;
    if (position >= ringSize) position -= ringSize;
    for (let i = 0; i < fresh; i++) {
      certificate.offerLowest(ys[position]! - (intercept + slope * us[position]!), us[position]!, ys[position]!);
      position = position + 1 === ringSize ? 0 : position + 1;
    }
  }

  /** The sum of u of the ring's points: block sums for full blocks, in order of u (as every pass adds them). */
  private sumRing(): number {
    const { us, blockHullSize, blockSum, ringSize } = this;
    let sum = 0;
    let position = this.head;
    for (let left = this.count; left > 0; ) {
      if (left >= BLOCK && (position & (BLOCK - 1)) === 0 && blockHullSize[position >> BLOCK_SHIFT]! > 0) {
        sum += blockSum[position >> BLOCK_SHIFT]!;
        position += BLOCK;
        left -= BLOCK;
      } else {
        sum += us[position]!;
        position++;
        left--;
      }
      if (position === ringSize) position = 0;
    }
    return sum;
  }

  /**
   * The lower hull of the candidates into this.hull, returning its size (lowerEnvelope's monotone chain, point for
   * point: the same cross products of the same numbers). The stack holds the vertices' coordinates beside their
   * ring positions, so a turn test reads two stack slots instead of going through positions into the ring.
   */
  private chain(pending: boolean): number {
    const { blockHull, blockHullSize, ringSize } = this;
    let size = 0;
    let position = this.head;
    for (let left = this.count; left > 0; ) {
      const block = position >> BLOCK_SHIFT;
      if (left >= BLOCK && (position & (BLOCK - 1)) === 0 && blockHullSize[block]! > 0) {
        for (let j = 0, vertices = blockHullSize[block]!; j < vertices; j++) size = this.pushHull(size, blockHull[position + j]!);
        position += BLOCK;
        left -= BLOCK;
      } else {
        size = this.pushHull(size, position);
        position++;
        left--;
      }
      if (position === ringSize) position = 0;
    }
    if (pending) size = this.pushHull(size, ringSize);
    return size;
  }

  /** pushLowerHull (lower-envelope.ts) of ring position `at` onto the hull of `size` vertices, on the stack's own coordinates. */
  private pushHull(size: number, at: number): number {
    const stackU = this.hullU;
    const stackY = this.hullY;
    const ui = this.us[at]!;
    const yi = this.ys[at]!;
    while (size >= 2) {
      const ua = stackU[size - 2]!;
      const ya = stackY[size - 2]!;
      if ((stackU[size - 1]! - ua) * (yi - ya) - (stackY[size - 1]! - ya) * (ui - ua) > 0) break;
      size--;
    }
    this.hull[size] = at;
    stackU[size] = ui;
    stackY[size] = yi;
    return size + 1;
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
      this.ringSum -= this.us[this.head]!;
      this.head = this.head + 1 === ringSize ? 0 : this.head + 1;
      this.count--;
    }
    let tail = this.head + this.count; // head and count are each under ringSize: one wrap at most, no %
    if (tail >= ringSize) tail -= ringSize;
    const offset = tail & (BLOCK - 1);
    // A block's hull is made when its last point comes in, and forgotten when its first is written over.
    if (offset === 0) this.blockHullSize[tail >> BLOCK_SHIFT] = 0;
    this.us[tail] = u;
    this.ys[tail] = y;
    if (offset === BLOCK - 1) this.completeBlock(tail - offset);
    this.count++;
    this.ringSum += u;
    this.ringSumAge++;
    while (this.count > 1 && u - this.us[this.head]! > this.windowNs) {
      this.ringSum -= this.us[this.head]!;
      this.head = this.head + 1 === ringSize ? 0 : this.head + 1;
      this.count--;
    }
    this.unchecked = Math.min(this.unchecked + 1, this.count);
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
    this.blockHullSize[start >> BLOCK_SHIFT] = size;
    this.blockSum[start >> BLOCK_SHIFT] = sum;
  }

  /**
   * Puts `r` into sweepLeast, the `seen` (at most KEPT_RESIDUALS) least residuals so far in increasing order (the
   * largest goes when full); returns how many it holds. An integer in, an integer out: nothing to box.
   */
  private insertLeast(seen: number, r: number): number {
    const least = this.sweepLeast;
    let j = seen < KEPT_RESIDUALS ? seen : KEPT_RESIDUALS - 1;
    while (j > 0 && least[j - 1]! > r) {
      least[j] = least[j - 1]!;
      j--;
    }
    least[j] = r;
    return seen < KEPT_RESIDUALS ? seen + 1 : seen;
  }

  /**
   * The least residuals of the ring's points above the line, into the certificate, in two sweeps. The first reads
   * the points of partial blocks and the hull vertices of full ones (each full block's nearest vertex is no farther
   * than any of its points): the KEPT_RESIDUALS-th least of those distinct points bounds the KEPT_RESIDUALS-th
   * least of the window. The second offers every point of partial blocks and of the full blocks whose nearest
   * vertex is nearer than that bound (or at it, while the list is not full of points no farther): a block beyond
   * it holds no point the list keeps. The list is the one a sweep of every point gives (the same least values; of
   * equal ones, perhaps others).
   */
  private scanLowest(intercept: number, slope: number): void {
    const certificate = this.certificate;
    certificate.clearLowest();
    const { us, ys, blockHull, blockHullSize, blockNearest, ringSize } = this;
    // Sweep 1: the KEPT_RESIDUALS least residuals of the candidates, increasing (only the last is needed).
    const least = this.sweepLeast;
    let seen = 0;
    // The largest of them once there are KEPT_RESIDUALS (a candidate no smaller does not go in).
    let limit = Number.POSITIVE_INFINITY;
    let position = this.head;
    for (let left = this.count; left > 0; ) {
      const block = position >> BLOCK_SHIFT;
      let count = 1;
      let r: number;
      if (left >= BLOCK && (position & (BLOCK - 1)) === 0 && blockHullSize[block]! > 0) {
        count = blockHullSize[block]!;
        let nearest = Number.POSITIVE_INFINITY;
        for (let j = 0; j < count; j++) {
          const at = blockHull[position + j]!;
          r = ys[at]! - (intercept + slope * us[at]!);
          if (r < nearest) nearest = r;
          if (r < limit) {
            seen = this.insertLeast(seen, r);
            if (seen === KEPT_RESIDUALS) limit = least[KEPT_RESIDUALS - 1]!;
          }
        }
        blockNearest[block] = nearest;
        position += BLOCK;
        left -= BLOCK;
      } else {
        r = ys[position]! - (intercept + slope * us[position]!);
        if (r < limit) {
          seen = this.insertLeast(seen, r);
          if (seen === KEPT_RESIDUALS) limit = least[KEPT_RESIDUALS - 1]!;
        }
        position++;
        left--;
      }
      if (position === ringSize) position = 0;
    }
    const bound = seen < KEPT_RESIDUALS ? Number.POSITIVE_INFINITY : least[KEPT_RESIDUALS - 1]!;
    // Sweep 2, in order of u (as a sweep of every point offers them). The list is told of skipped blocks at the
    // end: told sooner, it would refuse what it has no room for yet.
    let skipped = false;
    position = this.head;
    for (let left = this.count; left > 0; ) {
      const block = position >> BLOCK_SHIFT;
      if (left >= BLOCK && (position & (BLOCK - 1)) === 0 && blockHullSize[block]! > 0) {
        const nearest = blockNearest[block]!;
        // A block at the bound itself is read only while the list may still take its points (ties).
        if (nearest < bound || (nearest === bound && nearest < certificate.lowestBound)) {
          for (let at = position; at < position + BLOCK; at++) certificate.offerLowest(ys[at]! - (intercept + slope * us[at]!), us[at]!, ys[at]!);
        } else {
          skipped = true;
        }
        position += BLOCK;
        left -= BLOCK;
      } else {
        certificate.offerLowest(ys[position]! - (intercept + slope * us[position]!), us[position]!, ys[position]!);
        position++;
        left--;
      }
      if (position === ringSize) position = 0;
    }
    if (skipped) certificate.lowestAll = false;
  }
}
