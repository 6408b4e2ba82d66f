/**
 * The line under a cloud of points whose noise only ever adds: y = a + b·x with a + b·x_k ≤ y_k for every k, as
 * close to the points as it can be (the least total distance). Packet arrival times are such points: a packet
 * can be late, never early, so the least delayed packets outline the true clock and the others say nothing.
 *
 * The best such line is the lower convex hull's edge above the mean x (a linear program whose optimum sits on
 * the hull); it depends only on the least delayed points, so a few very late packets (a busy event loop, a
 * garbage collection) cost nothing, where least squares would bend toward them.
 *
 * Only the hull's vertices matter, so the points may be given thinned to any superset of them (envelope-window.ts
 * passes each block's own hull vertices rather than every point): the mean x is then given separately.
 */

export interface EnvelopeLine {
  /** Value at x = 0. */
  intercept: number;
  slope: number;
}

/**
 * Appends point i to the lower hull held in hull[base, base + size) (point indexes into xs/ys, x increasing) and
 * returns the new size: Andrew's monotone chain, lower half (keep turning left; collinear points are dropped).
 */
export function pushLowerHull(xs: Float64Array, ys: Float64Array, hull: Int32Array, base: number, size: number, i: number): number {
  const xi = xs[i]!;
  const yi = ys[i]!;
  while (size >= 2) {
    const a = hull[base + size - 2]!;
    const b = hull[base + size - 1]!;
    const xa = xs[a]!;
    const ya = ys[a]!;
    const cross = (xs[b]! - xa) * (yi - ya) - (ys[b]! - ya) * (xi - xa);
    if (cross > 0) break;
    size--;
  }
  hull[base + size] = i;
  return size + 1;
}

/**
 * Fits the lower envelope line through points sorted by x (strictly increasing). With `slope` given, only the
 * intercept is fitted (the line through the lowest point for that slope). Returns null for fewer than two points
 * when the slope is free. `hull` is scratch space for the hull's point indices (length ≥ count). `mean` is the
 * mean x of the whole cloud when xs holds only a superset of its hull's vertices (default: the mean of xs).
 */
export function lowerEnvelope(
  xs: Float64Array,
  ys: Float64Array,
  count: number,
  slope: number | null,
  hull: Int32Array,
  mean?: number,
): EnvelopeLine | null {
  if (count <= 0) return null;
  if (slope !== null || count === 1) {
    if (slope === null) return null;
    let intercept = Infinity;
    for (let i = 0; i < count; i++) {
      const candidate = ys[i]! - slope * xs[i]!;
      if (candidate < intercept) intercept = candidate;
    }
    return { intercept, slope };
  }
  let size = 0;
  for (let i = 0; i < count; i++) size = pushLowerHull(xs, ys, hull, 0, size, i);
  if (mean === undefined) {
    let sum = 0;
    for (let i = 0; i < count; i++) sum += xs[i]!;
    mean = sum / count;
  }
  // The edge that spans the mean (the last edge when rounding puts the mean past the end).
  let edge = 0;
  while (edge < size - 2 && xs[hull[edge + 1]!]! < mean) edge++;
  const a = hull[edge]!;
  const b = hull[edge + 1]!;
  const edgeSlope = (ys[b]! - ys[a]!) / (xs[b]! - xs[a]!);
  return { intercept: ys[a]! - edgeSlope * xs[a]!, slope: edgeSlope };
}
