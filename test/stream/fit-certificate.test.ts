/**
 * FitCertificate (fit-certificate.ts): what lets the envelope window keep its last line. Checked against brute
 * force: the kept least residuals must give the k-th least residual of the window's points exactly (or say they
 * cannot), through insertions, ties, expiries and the pending point; the touching points must say whether the
 * line still touches points on both sides of the mean; a point below the line voids it.
 */
import { describe, expect, it } from 'vitest';
import { FitCertificate, KEPT_RESIDUALS } from '../../src/stream/fit-certificate.js';
import { Random } from './helpers/random.js';

/** The line y = 0: a point's residual is its y. */
function flatCertificate(tolerance: number): FitCertificate {
  const certificate = new FitCertificate(4096);
  certificate.reset(0, 0, tolerance);
  return certificate;
}

describe('FitCertificate: the least residuals', () => {
  for (const quantum of [0, 1, 25]) {
    it(`give the k-th least of the window exactly${quantum > 0 ? `, residuals in steps of ${quantum} (ties)` : ''}`, () => {
      const random = new Random(0xce47 + quantum);
      const certificate = flatCertificate(0);
      const window: { u: number; r: number }[] = [];
      let u = 0;
      let told = 0;
      let rescans = 0;
      for (let step = 0; step < 8000; step++) {
        // A new point, sometimes several; the window keeps 40 to 200 points, the oldest leaving.
        const raw = random.exponential(100);
        const r = quantum > 0 ? Math.round(raw / quantum) * quantum : raw;
        u += 1;
        expect(certificate.admit(u, r)).toBe(true);
        window.push({ u, r });
        const keep = 40 + random.below(160);
        while (window.length > keep) window.shift();
        certificate.expireLowest(window[0]!.u);
        const pending = random.chance(0.5) ? random.exponential(100) : Number.NaN;
        const k = 1 + random.below(8);
        const all = window.map((p) => p.r);
        if (!Number.isNaN(pending)) all.push(pending);
        all.sort((a, b) => a - b);
        if (all.length < k) continue;
        const kth = certificate.kthLeast(k, pending);
        if (Number.isNaN(kth)) {
          // It may not tell only when fewer than k are kept: then a rescan refills it (as the window does).
          expect(certificate.lowestCount).toBeLessThan(k);
          rescans++;
          certificate.clearLowest();
          for (const p of window) certificate.offerLowest(p.r, p.u, p.r); // y = r on the line y = 0
          expect(certificate.kthLeast(k, pending)).toBe(all[k - 1]);
        } else {
          told++;
          expect(kth, `step ${step}`).toBe(all[k - 1]);
        }
        expect(certificate.lowestCount).toBeLessThanOrEqual(KEPT_RESIDUALS);
      }
      // Kept residuals answer most of the time; rescans are the exception.
      expect(told).toBeGreaterThan(rescans * 5);
    });
  }

  it('carried over to another line (reline), stay exactly the least of the window, or say they cannot', () => {
    const random = new Random(0x5e11);
    let carried = 0;
    for (let trial = 0; trial < 400; trial++) {
      // A window of points above the line y = 0 (so a residual is its y), every one offered once.
      const certificate = flatCertificate(0);
      const count = 20 + random.below(300);
      const window: { u: number; y: number }[] = [];
      for (let u = 0; u < count; u++) {
        const y = random.chance(0.1) ? Math.round(random.exponential(50)) : random.exponential(100);
        window.push({ u, y });
        expect(certificate.admit(u, y)).toBe(true);
      }
      // A new line a little off the old one, as a pass's next edge is: every residual moves by at least `fall`.
      const intercept = (random.next() - 0.5) * 4;
      const slope = (random.next() - 0.5) * (8 / count);
      const fall = Math.min(-intercept, -intercept - slope * (count - 1));
      const largest = certificate.largestKept;
      certificate.reline(intercept, slope, largest + fall - 1e-9);
      const all = window.map((p) => p.y - (intercept + slope * p.u)).sort((a, b) => a - b);
      for (let k = 1; k <= KEPT_RESIDUALS; k++) {
        const kth = certificate.kthLeast(k, Number.NaN);
        if (k <= certificate.lowestCount) expect(kth, `trial ${trial}, k ${k}`).toBe(all[k - 1]);
        else expect(kth).toBeNaN();
      }
      if (certificate.lowestCount >= 8) carried++;
    }
    // Most small moves of the line keep enough of the list for the error estimate (its 8th least).
    expect(carried).toBeGreaterThan(300);
  });

  it('keep the newest of equal residuals, so that an exact stream does not rescan at every expiry', () => {
    const certificate = flatCertificate(0);
    for (let u = 0; u < 100; u++) certificate.admit(u, 0);
    certificate.expireLowest(90); // all but the ten newest gone
    expect(certificate.lowestCount).toBe(10);
    expect(certificate.kthLeast(8, Number.NaN)).toBe(0);
  });
});

describe('FitCertificate: the line answers while it touches points on both sides of the mean', () => {
  it('needs a touching point at or before the mean and one at or after it, none expired', () => {
    const certificate = flatCertificate(0.5);
    for (const [u, y] of [
      [1, 0],
      [2, 3],
      [5, 0.2],
      [7, 4],
      [9, -0.4],
    ] as const)
      expect(certificate.admit(u, y)).toBe(true);
    // Touching: u 1, 5, 9.
    expect(certificate.supports(4, 0, false)).toBe(true);
    expect(certificate.supports(5, 0, false)).toBe(true);
    expect(certificate.supports(6, 2, false)).toBe(true); // 5 before, 9 after
    expect(certificate.supports(9.5, 2, false)).toBe(false); // nothing touches at or after 9.5...
    expect(certificate.supports(9.5, 2, true)).toBe(true); // ...but the pending point does
    expect(certificate.supports(8, 6, false)).toBe(false); // 5 has expired: nothing before the mean
  });

  it('is void once a point lies below the line by more than the tolerance', () => {
    const certificate = flatCertificate(0.5);
    expect(certificate.admit(1, -0.5)).toBe(true);
    expect(certificate.valid).toBe(true);
    expect(certificate.admit(2, -0.51)).toBe(false);
    expect(certificate.valid).toBe(false);
  });
});
