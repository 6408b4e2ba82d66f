/**
 * The device clock's fit alone (issue 15.4): what one fit costs with the window's line reused while its certificate
 * holds (src/stream/fit-certificate.ts) and with a pass over the whole window per fit (`fullRefit`, the algorithm
 * before). ClockRecovery's window (8 s of 4 ms buckets), warmed past the window, then `perFit` new points 1 ms apart
 * before each fit: 12 is a frame of a 30 fps camera with an SCR per 1 ms, 75 a slower stream or a rarer fit. Per
 * fit: (adds + fit) − (adds alone), best of 5 runs. Arrivals: exact (no latency at all: the assembly bench's
 * synthetic stream), jittered (uniform 0–80 µs), or with stalls (2 % of points 2–32 ms late).
 *
 * Run: `npm run bench -- --only=assembly` (or `npx tsc -p bench/tsconfig.json`) compiles it; then
 * `node bench/.out/bench/clock-fit.js`. Not a section of `npm run bench`: a figure for one component.
 */
import { Random } from '../src/random.js';
import { EnvelopeWindow, type EnvelopeWindowOptions } from '../src/stream/envelope-window.js';

const CLOCK_WINDOW: EnvelopeWindowOptions = {
  windowNs: 8e9,
  bucketNs: 4e6,
  fitSpanNs: 1e9,
  priorSlopeError: 100e-6,
  lockSpanNs: 250e6,
  lockUncertaintyNs: 50e3,
  maxSlope: 0.01,
  refuseBeyondNs: 4e9,
};

type Arrivals = 'exact' | 'jitter' | 'stalls';

function run(arrivals: Arrivals, perFit: number, fits: number, fullRefit: boolean, fit: boolean): { ns: number; passes: number } {
  const window = new EnvelopeWindow({ ...CLOCK_WINDOW, fullRefit });
  const random = new Random(7);
  const warmFits = Math.ceil(9000 / perFit);
  const total = (warmFits + fits) * perFit;
  // Latencies drawn beforehand: the timed loop does window work only.
  const ys = new Float64Array(total);
  for (let i = 0; i < total; i++) {
    const latency = arrivals === 'exact' ? 0 : arrivals === 'jitter' ? random.next() * 80_000 : random.chance(0.02) ? 2e6 + random.next() * 30e6 : random.next() * 200_000;
    ys[i] = 1234 + 37e-6 * i * 1e6 + latency;
  }
  let i = 0;
  for (let f = 0; f < warmFits; f++) {
    for (let k = 0; k < perFit; k++, i++) window.add(i * 1e6, ys[i]!);
    window.fit();
  }
  const passesBefore = window.counts.passes;
  const start = process.hrtime.bigint();
  for (let f = 0; f < fits; f++) {
    for (let k = 0; k < perFit; k++, i++) window.add(i * 1e6, ys[i]!);
    if (fit) window.fit();
  }
  return { ns: Number(process.hrtime.bigint() - start) / fits, passes: window.counts.passes - passesBefore };
}

console.log('arrivals  points/fit  µs per fit: a pass per fit → reused   (passes in the timed fits)');
for (const arrivals of ['exact', 'jitter', 'stalls'] as const) {
  for (const perFit of [12, 75]) {
    const fits = perFit === 12 ? 4000 : 1500;
    const cells: string[] = [];
    for (const fullRefit of [true, false]) {
      let best = Number.POSITIVE_INFINITY;
      let addsAlone = Number.POSITIVE_INFINITY;
      let passes = 0;
      for (let repeat = 0; repeat < 5; repeat++) {
        const timed = run(arrivals, perFit, fits, fullRefit, true);
        if (timed.ns < best) {
          best = timed.ns;
          passes = timed.passes;
        }
        addsAlone = Math.min(addsAlone, run(arrivals, perFit, fits, fullRefit, false).ns);
      }
      cells.push(`${((best - addsAlone) / 1000).toFixed(2)} (${passes} of ${fits})`);
    }
    console.log(`${arrivals.padEnd(8)}  ${String(perFit).padStart(10)}  ${cells.join(' → ')}`);
  }
}
