/**
 * Why a window's last fitted line may stand as its next fit without a pass over the window (envelope-window.ts).
 *
 * The fitted line L is the optimum of a linear program (lower-envelope.ts): the highest line at the mean u under
 * every point. L is that optimum when (1) no point lies below it and (2) it touches a point at or before the mean
 * and one at or after it (the mean is then between two touching points: the dual's certificate). Between fits the
 * window gains points at its newest end, loses its oldest, and the mean moves on. So it is enough to check each
 * new point once against L (one below it voids L: refit), and to hold, of the touching points, one at or before
 * the current mean that has not expired and one at or after it. Lacking either, the window refits.
 *
 * "Below" and "touching" are decided within `tolerance` of L (rounding: see envelope-window.ts). Then L is within
 * `tolerance` of the exact optimum at the mean: L − tolerance is under every point, and the optimum cannot rise
 * more than `tolerance` above L at the two touching points on either side of the mean. Away from the mean the
 * difference grows with the distance over the touching points' distance to the mean; the window's full pass has
 * the same sensitivity when the mean is near a hull vertex (which of two nearly collinear edges spans it).
 *
 * The fit's error estimate needs the K-th least residual above L. Kept here: the least residuals with their u,
 * exactly the `count` least of the window's points (not the pending point): a new point goes in when it is no
 * larger than the largest kept (or when every point is kept); an expired one leaves. When fewer than K are kept the window
 * rescans its points against L (no new hull).
 */

/** Residuals kept: twice the rank the error estimate reads, so that expiries rarely force a rescan. */
export const KEPT_RESIDUALS = 16;
/** Slots of the residuals' ring are taken modulo KEPT_RESIDUALS (a power of two) by this mask. */
const LOWEST_MASK = KEPT_RESIDUALS - 1;

export class FitCertificate {
  intercept = 0;
  slope = 0;
  tolerance = 0;
  /** L is a fitted line, and every point the window has shown it (see admit) is on or above it. */
  valid = false;
  /** u of touching points, oldest first: a ring deque. */
  private readonly touching: Float64Array;
  private touchingFirst = 0;
  private touchingCount = 0;
  /**
   * The least residuals above L with their u, increasing from slot `lowestFirst` of a ring of KEPT_RESIDUALS slots
   * (so that the newest of equal least residuals, an exact stream's every point, goes in front without moving the
   * others); `lowestAll`: every point of the window is among them.
   */
  private readonly lowestR = new Float64Array(KEPT_RESIDUALS);
  private readonly lowestU = new Float64Array(KEPT_RESIDUALS);
  /** Their points' y: a new line's residuals are computed afresh from them (reline). */
  private readonly lowestY = new Float64Array(KEPT_RESIDUALS);
  private lowestFirst = 0;
  lowestCount = 0;
  lowestAll = true;

  constructor(capacity: number) {
    this.touching = new Float64Array(capacity + 2);
  }

  /**
   * A new line, from a full pass; the caller then adds its touching points, and makes the least residuals its own
   * (clearLowest and a scan, or reline).
   */
  reset(intercept: number, slope: number, tolerance: number): void {
    this.intercept = intercept;
    this.slope = slope;
    this.tolerance = tolerance;
    this.valid = true;
    this.touchingFirst = 0;
    this.touchingCount = 0;
  }

  /** Forgets the residuals (a rescan refills them against the same line). */
  clearLowest(): void {
    this.lowestFirst = 0;
    this.lowestCount = 0;
    this.lowestAll = true;
  }

  /** A point known to touch L (an end of the fitted edge), in order of u. */
  addTouching(u: number): void {
    const size = this.touching.length;
    // Full (more touching points came in between two fits than the window holds): the oldest goes. That can
    // only make supports() answer false, i.e. cost a pass.
    if (this.touchingCount === size) this.dropFirstTouching();
    let at = this.touchingFirst + this.touchingCount;
    if (at >= size) at -= size;
    this.touching[at] = u;
    this.touchingCount++;
  }

  /** A point new to the window, checked once: false when it lies below L (L no longer answers). */
  admit(u: number, y: number): boolean {
    const r = y - (this.intercept + this.slope * u);
    if (r < -this.tolerance) {
      this.valid = false;
      return false;
    }
    if (r <= this.tolerance) this.addTouching(u);
    this.offerLowest(r, u, y);
    return true;
  }

  /** The largest residual kept when the list is full (a block of points none nearer than this can be skipped). */
  get lowestBound(): number {
    return this.lowestCount === KEPT_RESIDUALS ? this.lowestR[(this.lowestFirst + KEPT_RESIDUALS - 1) & LOWEST_MASK]! : Number.POSITIVE_INFINITY;
  }

  /**
   * Offers one point's residual: kept when it is among the least (see the file comment for why that stays exact).
   * Among equal residuals the newest is kept first and the oldest dropped first: an exact stream's residuals are
   * all equal, and the oldest would expire at once.
   */
  offerLowest(r: number, u: number, y: number): void {
    const { lowestR, lowestU, lowestY } = this;
    const first = this.lowestFirst;
    let count = this.lowestCount;
    if (count > 0) {
      const largest = lowestR[(first + count - 1) & LOWEST_MASK]!;
      // Not kept: larger than every kept one while some point is not kept (then it may not be among the least).
      if (r > largest && (!this.lowestAll || count === KEPT_RESIDUALS)) {
        if (count === KEPT_RESIDUALS) this.lowestAll = false;
        return;
      }
    } else if (!this.lowestAll) {
      return;
    }
    if (count === KEPT_RESIDUALS) {
      this.lowestAll = false;
      count--;
    }
    if (count === 0 || r <= lowestR[first]!) {
      // The least (or equal to it): in front.
      const at = (first - 1) & LOWEST_MASK;
      lowestR[at] = r;
      lowestU[at] = u;
      lowestY[at] = y;
      this.lowestFirst = at;
      this.lowestCount = count + 1;
      return;
    }
    // Larger than the least: the ones no smaller move up a slot (the least stops the loop).
    let to = (first + count) & LOWEST_MASK;
    for (;;) {
      const from = (to - 1) & LOWEST_MASK;
      if (!(lowestR[from]! >= r)) break;
      lowestR[to] = lowestR[from]!;
      lowestU[to] = lowestU[from]!;
      lowestY[to] = lowestY[from]!;
      to = from;
    }
    lowestR[to] = r;
    lowestU[to] = u;
    lowestY[to] = y;
    this.lowestCount = count + 1;
  }

  /** Points older than `oldestU` have left the window: their residuals go. */
  expireLowest(oldestU: number): void {
    const { lowestR, lowestU, lowestY } = this;
    const first = this.lowestFirst;
    let kept = 0;
    for (let i = 0; i < this.lowestCount; i++) {
      const from = (first + i) & LOWEST_MASK;
      if (lowestU[from]! < oldestU) continue;
      const to = (first + kept) & LOWEST_MASK;
      lowestR[to] = lowestR[from]!;
      lowestU[to] = lowestU[from]!;
      lowestY[to] = lowestY[from]!;
      kept++;
    }
    this.lowestCount = kept;
  }

  /** The largest residual kept (NaN with none). */
  get largestKept(): number {
    return this.lowestCount > 0 ? this.lowestR[(this.lowestFirst + this.lowestCount - 1) & LOWEST_MASK]! : Number.NaN;
  }

  /**
   * The kept points' residuals above another line, computed afresh (as a scan would: y − (intercept + slope·u)).
   * Kept are those under `bound`, below which the caller has shown that no point not kept can lie (every point
   * is kept when `lowestAll`: then all stay): the list stays exactly the least of the window, perhaps shorter.
   */
  reline(intercept: number, slope: number, bound: number): void {
    const { lowestR, lowestU, lowestY } = this;
    const first = this.lowestFirst;
    const count = this.lowestCount;
    const all = this.lowestAll;
    // Recomputed in place, then the kept ones sorted into the front by insertion (at most KEPT_RESIDUALS).
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const from = (first + i) & LOWEST_MASK;
      const u = lowestU[from]!;
      const y = lowestY[from]!;
      const r = y - (intercept + slope * u);
      if (!all && !(r < bound)) continue;
      let to = (first + kept) & LOWEST_MASK;
      for (;;) {
        if (to === first) break;
        const before = (to - 1) & LOWEST_MASK;
        if (!(lowestR[before]! > r)) break;
        lowestR[to] = lowestR[before]!;
        lowestU[to] = lowestU[before]!;
        lowestY[to] = lowestY[before]!;
        to = before;
      }
      lowestR[to] = r;
      lowestU[to] = u;
      lowestY[to] = y;
      kept++;
    }
    if (kept < count) this.lowestAll = false;
    this.lowestCount = kept;
  }

  /**
   * The k-th least residual of the window's points and the pending one (residual `pendingR`, NaN without one), or
   * NaN when the kept residuals do not tell it.
   */
  kthLeast(k: number, pendingR: number): number {
    const { lowestR } = this;
    const first = this.lowestFirst;
    const count = this.lowestCount;
    if (Number.isNaN(pendingR)) return count >= k ? lowestR[(first + k - 1) & LOWEST_MASK]! : Number.NaN;
    if (count >= k && pendingR >= lowestR[(first + k - 1) & LOWEST_MASK]!) return lowestR[(first + k - 1) & LOWEST_MASK]!;
    // The pending residual is among the k least (or every point is kept and there are fewer than k).
    if (count < k && !(this.lowestAll && count === k - 1)) return Number.NaN;
    if (k === 1) return count > 0 ? Math.min(pendingR, lowestR[first]!) : pendingR;
    return Math.max(pendingR, lowestR[(first + k - 2) & LOWEST_MASK]!);
  }

  /**
   * Whether L still has touching points at or before `mean` and at or after it, the oldest point of the window
   * being at `oldestU`; `pendingTouchesAfter`: the pending point touches L at or after the mean.
   */
  supports(mean: number, oldestU: number, pendingTouchesAfter: boolean): boolean {
    const touching = this.touching;
    const size = touching.length;
    while (this.touchingCount > 0 && touching[this.touchingFirst]! < oldestU) this.dropFirstTouching();
    // Of the touching points at or before the mean the newest outlasts the others: they are not needed.
    while (this.touchingCount >= 2 && touching[this.touchingFirst + 1 === size ? 0 : this.touchingFirst + 1]! <= mean) this.dropFirstTouching();
    if (this.touchingCount === 0 || touching[this.touchingFirst]! > mean) return false;
    let last = this.touchingFirst + this.touchingCount - 1;
    if (last >= size) last -= size;
    return pendingTouchesAfter || touching[last]! >= mean;
  }

  private dropFirstTouching(): void {
    this.touchingFirst = this.touchingFirst + 1 === this.touching.length ? 0 : this.touchingFirst + 1;
    this.touchingCount--;
  }
}
