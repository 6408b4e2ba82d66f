/**
 * The line under a cloud of points whose noise only ever adds: y = a + b·x with a + b·x_k ≤ y_k for every k, as
 * close to the points as it can be (the least total distance). Packet arrival times are such points: a packet
 * can be late, never early, so the least delayed packets outline the true clock and the others say nothing.
 *
 * The best such line is the lower convex hull's edge above the mean x (a linear program whose optimum sits on
 * the hull); it depends only on the least delayed points, so a few very late packets (a busy event loop, a
 * garbage collection) cost nothing, where least squares would bend toward them.
 */

export interface EnvelopeLine {
  /** Value at x = 0. */
  intercept: number;
  slope: number;
}

/**
 * Fits the lower envelope line through points sorted by x (strictly increasing). With `slope` given, only the
 * intercept is fitted (the line through the lowest point for that slope). Returns null for fewer than two points
 * when the slope is free. `hull` is scratch space for the hull's point indices (length ≥ count).
 */
export function lowerEnvelope(
  xs: Float64Array,
  ys: Float64Array,
  count: number,
  slope: number | null,
  hull: Int32Array,
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
  // Andrew's monotone chain, lower half: keep turning left.
  let size = 0;
  for (let i = 0; i < count; i++) {
    while (size >= 2) {
      const a = hull[size - 2]!;
      const b = hull[size - 1]!;
      const cross = (xs[b]! - xs[a]!) * (ys[i]! - ys[a]!) - (ys[b]! - ys[a]!) * (xs[i]! - xs[a]!);
      if (cross > 0) break;
      size--;
    }
    hull[size++] = i;
  }
  let sum = 0;
  for (let i = 0; i < count; i++) sum += xs[i]!;
  const mean = sum / count;
  // The edge that spans the mean (the last edge when rounding puts the mean past the end).
  let edge = 0;
  while (edge < size - 2 && xs[hull[edge + 1]!]! < mean) edge++;
  const a = hull[edge]!;
  const b = hull[edge + 1]!;
  const edgeSlope = (ys[b]! - ys[a]!) / (xs[b]! - xs[a]!);
  return { intercept: ys[a]! - edgeSlope * xs[a]!, slope: edgeSlope };
}
