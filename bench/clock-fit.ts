/**
 * The device clock's fit alone (issue 15.4): what one fit costs with the window's line reused while its certificate
 * holds (src/stream/fit-certificate.ts) and with a pass over the whole window per fit (`fullRefit`, the algorithm
 * before). ClockRecovery's window (8 s of 4 ms buckets), warmed past the window, then `perFit` new points 1 ms apart
 * before each fit: 12 is a frame of a 30 fps camera with an SCR per 1 ms, 75 a slower stream or a rarer fit. Per
 * fit: (adds + fit) − (adds alone), best of 5 runs. Arrivals: exact (no latency at all: the assembly bench's
 * synthetic stream), jittered (uniform 0–80 µs), or with stalls (2 % of points 2–32 ms late).
 *
 * Then ClockRecovery's whole cost per SCR sample (below).
 *
 * Run: `npm run bench -- --only=assembly` (or `npx tsc -p bench/tsconfig.json`) compiles it; then
 * `node bench/.out/bench/clock-fit.js`. Not a section of `npm run bench`: a figure for one component.
 */
import { Random } from '../src/random.js';
import { ClockRecovery } from '../src/stream/clock-recovery.js';
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

/**
 * ClockRecovery as the assembler drives it: one addSample per 1 ms of bus time (one per SOF change at high
 * speed), a toHostNs per frame (every 76 samples: the assembly bench's 480p frame at 1024-byte packets; every 33:
 * a 30 fps camera). Arrivals: exact (the assembly bench's synthetic stream: a 48 MHz STC exactly on the bus clock,
 * every sample on time, so every point is on one line), clean (on time, a 48 MHz device clock 37 ppm fast whose
 * STC wraps: off the line only by the STC's whole ticks), noisy (that clock, arrivals uniform 0–300 µs late and 2 %
 * of them 2–32 ms late), guest (that clock, arrivals late by an exponential of mean 400 µs and 5 % of them up to
 * 20 ms more: usbip under emulation). Per sample: the whole cost (adds, checks, fits), median and best of 9 runs
 * over 30 s of stream after 10 s of warm-up, and the passes over the whole window among the fits.
 */
type SampleArrivals = 'exact' | 'clean' | 'noisy' | 'guest';

interface SampleStream {
  stc: Uint32Array;
  sof: Uint16Array;
  hostNs: Float64Array;
}

function sampleStream(arrivals: SampleArrivals, count: number): SampleStream {
  const random = new Random(11);
  const hz = 48e6;
  const stream = { stc: new Uint32Array(count), sof: new Uint16Array(count), hostNs: new Float64Array(count) };
  let device = 4294967296 - hz * 20;
  for (let i = 0; i < count; i++) {
    const busNs = 1e12 + i * 1e6;
    device += 1e-3 * hz * (arrivals === 'exact' ? 1 : 1 + 37e-6);
    let latency = 0;
    if (arrivals === 'noisy') latency = random.chance(0.02) ? 2e6 + random.next() * 30e6 : random.next() * 300_000;
    else if (arrivals === 'guest') latency = -Math.log(1 - random.next()) * 400_000 + (random.chance(0.05) ? random.next() * 20e6 : 0);
    stream.stc[i] = Math.floor(device) % 4294967296;
    stream.sof[i] = Math.floor(busNs / 1e6) & 2047;
    stream.hostNs[i] = busNs + latency;
  }
  return stream;
}

function perSample(stream: SampleStream, perFrame: number, warm: number): { ns: number; fits: number; passes: number } {
  const clock = new ClockRecovery({ clockFrequency: 48e6 });
  const { stc, sof, hostNs } = stream;
  let sink = 0;
  let i = 0;
  for (; i < warm; i++) {
    clock.addSample(stc[i]!, sof[i]!, hostNs[i]!);
    if (i % perFrame === perFrame - 1) sink += clock.toHostNs(stc[i]!);
  }
  const counts = clock.fitCounts;
  const fitsBefore = counts.fits;
  const passesBefore = counts.passes;
  const start = process.hrtime.bigint();
  for (; i < stc.length; i++) {
    clock.addSample(stc[i]!, sof[i]!, hostNs[i]!);
    if (i % perFrame === perFrame - 1) sink += clock.toHostNs(stc[i]!);
  }
  const ns = Number(process.hrtime.bigint() - start) / (stc.length - warm);
  if (Number.isNaN(sink)) throw new Error('the clock gave no timestamp');
  return { ns, fits: counts.fits - fitsBefore, passes: counts.passes - passesBefore };
}

console.log('\nClockRecovery, a sample per ms and a toHostNs per frame: ns per sample, median (best) of 9   (passes of fits)');
for (const arrivals of ['exact', 'clean', 'noisy', 'guest'] as const) {
  const stream = sampleStream(arrivals, 40_000);
  for (const perFrame of [76, 33]) {
    const runs = Array.from({ length: 9 }, () => perSample(stream, perFrame, 10_000)).sort((a, b) => a.ns - b.ns);
    const median = runs[4]!;
    console.log(
      `${arrivals.padEnd(6)}  every ${String(perFrame).padStart(2)}  ${median.ns.toFixed(1).padStart(6)} (${runs[0]!.ns.toFixed(1)})   (${median.passes} of ${median.fits})`,
    );
  }
}
