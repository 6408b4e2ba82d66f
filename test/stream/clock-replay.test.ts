/**
 * Timestamps do not move when the clock code is made faster: seeded streams of SCR samples, frame PTS and iso
 * completions (jittered arrivals, stalls, rate errors, an STC wrap, a device clock jump, frames without PTS)
 * replayed through ClockRecovery, FrameTimestamps and BusTimeline, every output kept (timestamps, bus lateness,
 * the clock's stats every 50 frames).
 *
 * - With `fullRefit` (a pass over the whole window for every fit) the outputs are hashed and must give the digest
 *   recorded from commit 2e06a8e, the code before the envelope fit stopped copying its candidates out
 *   (bench/RESULTS.md): that reference is the algorithm as it was, bit for bit.
 * - The code as it runs (a fitted line reused while its certificate holds: fit-certificate.ts) must give every
 *   output within a stated bound of that reference, over those streams and more (no jitter at all, arrivals
 *   quantised to 1 µs, bursts of stalls, SCRs by the dozen per bucket, long streams whose window expires many
 *   times, a stream restarted). The bounds: a timestamp within 1 ns (stamps are rounded to whole nanoseconds, and a
 *   line within rounding of the reference's can round the other way), bus lateness within 1e-6 ns, the stats
 *   exactly or within one step of their own rounding (0.01 ppm, 0.1 µs). Nearly every output is bit-identical
 *   (asserted too): where the certificate holds, the pass would pick the same two points.
 * - The bus timeline of those streams never fits its slope (their transfers do not follow a bus rate), so it is
 *   replayed alone too, on a real bus rate: lateness within 1e-6 ns of the reference.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BusTimeline } from '../../src/stream/bus-timeline.js';
import { ClockRecovery } from '../../src/stream/clock-recovery.js';
import { FrameTimestamps } from '../../src/stream/frame-timestamps.js';
import { Random } from './helpers/random.js';

const RECORDED_DIGEST = '85360 values, sha256 893a31a494f478e98f014c5e0f44ba49db4d6ea85cafb11cb1e513eca5a2bb7a';

interface Scenario {
  hz: number;
  samplesPerFrame: number;
  /** 'none': arrivals exactly on time; 'quantised': uniform, rounded to 1 µs; 'bursts': 300 ms stalls every 5 s. */
  jitter: 'uniform' | 'stalls' | 'none' | 'quantised' | 'bursts';
  ppm: number;
  /** Frames (default 700, 23 s: the 8 s window slides). */
  frames?: number;
  /** Frames after which both clocks start over as for a new stream. */
  restartAt?: number;
  /** Reuse fits (the code as it runs) or make a pass per fit (the reference). */
  fullRefit?: boolean;
}

/** How an output may differ from the reference's (see the file comment). */
const enum Kind {
  Stamp,
  BusLateness,
  Exact,
  /** A stat rounded to this many decimals' step: 0.01 ppm, 0.1 µs. */
  Drift,
  Uncertainty,
}
const BOUND: Record<Kind, number> = { [Kind.Stamp]: 1, [Kind.BusLateness]: 1e-6, [Kind.Exact]: 0, [Kind.Drift]: 0.01, [Kind.Uncertainty]: 0.1 };

interface Replay {
  values: number[];
  kinds: Kind[];
  deviceTimestamps: number;
  lockedChecks: number;
  rejectedSamples: number;
  resets: number;
}

function replay(s: Scenario, seed: number): Replay {
  const random = new Random(seed);
  let host = 5e11;
  const delay = (): number => {
    switch (s.jitter) {
      case 'uniform':
        return random.next() * 80_000;
      case 'stalls':
        return random.next() < 0.02 ? 2e6 + random.next() * 30e6 : random.next() * 200_000;
      case 'none':
        return 0;
      case 'quantised':
        return Math.round((host + random.next() * 80_000) / 1000) * 1000 - host;
      case 'bursts': {
        const phase = host % 5e9;
        return (phase < 3e8 ? 3e8 - phase : 0) + random.next() * 50_000;
      }
    }
  };
  const fullRefit = s.fullRefit === true;
  const clock = new ClockRecovery({ clockFrequency: s.hz, fullRefit });
  const timestamps = new FrameTimestamps(clock);
  const bus = new BusTimeline(125_000, { fullRefit });
  const values: number[] = [];
  const kinds: Kind[] = [];
  const output = (kind: Kind, ...outputs: number[]) => {
    for (const value of outputs) {
      values.push(value);
      kinds.push(kind);
    }
  };
  // The STC starts 3 s before its wrap at 48 MHz; the device clock jumps 7.3 s at frame 400 of stall scenarios.
  let device = s.hz === 48e6 ? 4294967296 - 48e6 * 3 : 1000;
  let lockedChecks = 0;
  const samplePeriodNs = 33_333_333 / s.samplesPerFrame;
  for (let f = 0; f < (s.frames ?? 700); f++) {
    if (s.jitter === 'stalls' && f === 400) device += 7.3e9;
    if (f === s.restartAt) {
      clock.reset();
      timestamps.reset();
      bus.reset();
    }
    const ptsDevice = device;
    let firstArrival = 0;
    let lastArrival = 0;
    for (let k = 0; k < s.samplesPerFrame; k++) {
      device += (samplePeriodNs / 1e9) * s.hz * (1 + s.ppm * 1e-6);
      host += samplePeriodNs;
      const arrival = host + delay();
      if (k === 0) firstArrival = arrival;
      lastArrival = arrival;
      clock.addSample(Math.floor(device) % 4294967296, Math.floor(host / 1e6) & 2047, arrival);
      output(Kind.BusLateness, bus.transfer(8, k === 0 && f % 97 === 5 ? 2 : 0, arrival + delay()));
    }
    const pts = f % 53 === 7 ? -1 : Math.floor(ptsDevice) % 4294967296;
    output(Kind.Stamp, timestamps.stamp(pts, firstArrival, lastArrival));
    if (f % 50 === 49) {
      const stats = clock.stats;
      if (stats.locked) lockedChecks++;
      output(Kind.Exact, stats.locked ? 1 : 0);
      output(Kind.Drift, stats.driftPpm);
      output(Kind.Uncertainty, stats.uncertaintyUs ?? -1);
      output(Kind.Exact, stats.rejectedSamples, stats.resets);
      output(Kind.BusLateness, bus.uncertaintyNs);
    }
  }
  const stats = clock.stats;
  return { values, kinds, deviceTimestamps: timestamps.stats.deviceTimestamps, lockedChecks, rejectedSamples: stats.rejectedSamples, resets: stats.resets };
}

/** The 16 streams the digest was recorded from. */
function recordedScenarios(): Scenario[] {
  const scenarios: Scenario[] = [];
  for (const hz of [48e6, 1e6])
    for (const samplesPerFrame of [1, 12])
      for (const jitter of ['uniform', 'stalls'] as const) for (const ppm of [37, -120]) scenarios.push({ hz, samplesPerFrame, jitter, ppm });
  return scenarios;
}

/** More streams, for the tolerance only. */
const MORE_SCENARIOS: Scenario[] = [
  { hz: 48e6, samplesPerFrame: 12, jitter: 'none', ppm: 0, frames: 1500 },
  { hz: 48e6, samplesPerFrame: 40, jitter: 'none', ppm: -55, frames: 1200 },
  { hz: 1e6, samplesPerFrame: 12, jitter: 'quantised', ppm: 12, frames: 1500 },
  { hz: 48e6, samplesPerFrame: 75, jitter: 'uniform', ppm: 250, frames: 900 },
  { hz: 15e6, samplesPerFrame: 8, jitter: 'bursts', ppm: -30, frames: 2400 },
  { hz: 48e6, samplesPerFrame: 12, jitter: 'stalls', ppm: 900, frames: 4000 },
  { hz: 1e6, samplesPerFrame: 3, jitter: 'uniform', ppm: -900, frames: 4000, restartAt: 1800 },
  { hz: 48e6, samplesPerFrame: 20, jitter: 'quantised', ppm: 5, frames: 3000, restartAt: 900 },
];

describe('clock replay: timestamps as the algorithm gave them', () => {
  it('the reference (a pass per fit) gives the recorded outputs bit for bit, and the streams exercise lock, rejection and reset', () => {
    const all: number[] = [];
    let seed = 1;
    let locked = 0;
    let rejected = 0;
    let resets = 0;
    for (const scenario of recordedScenarios()) {
      const r = replay({ ...scenario, fullRefit: true }, seed++);
      // Most frames are stamped from the device clock (the rest: no PTS, a jump, before the first sample).
      expect(r.deviceTimestamps, JSON.stringify(scenario)).toBeGreaterThan(500);
      locked += r.lockedChecks;
      rejected += r.rejectedSamples;
      resets += r.resets;
      all.push(...r.values, Number.NaN);
    }
    expect(locked).toBeGreaterThan(50);
    expect(rejected).toBeGreaterThan(0);
    expect(resets).toBeGreaterThan(0);
    const digest = createHash('sha256').update(new Uint8Array(new Float64Array(all).buffer)).digest('hex');
    expect(`${all.length} values, sha256 ${digest}`).toBe(RECORDED_DIGEST);
  });

  it('reusing fits gives every output within its bound of the reference, nearly all bit for bit', () => {
    let seed = 1;
    let compared = 0;
    let differing = 0;
    let deviceTimestamps = 0;
    for (const scenario of [...recordedScenarios(), ...MORE_SCENARIOS]) {
      const where = JSON.stringify(scenario);
      const reference = replay({ ...scenario, fullRefit: true }, seed);
      const reused = replay(scenario, seed++);
      expect(reused.values.length, where).toBe(reference.values.length);
      deviceTimestamps += reused.deviceTimestamps;
      for (let i = 0; i < reference.values.length; i++) {
        const a = reused.values[i]!;
        const b = reference.values[i]!;
        compared++;
        if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
        differing++;
        const kind = reference.kinds[i]!;
        if (!(Math.abs(a - b) <= BOUND[kind])) expect(a, `${where}: output ${i} (kind ${kind})`).toBe(b);
      }
    }
    expect(compared).toBeGreaterThan(300_000);
    expect(deviceTimestamps).toBeGreaterThan(20_000);
    expect(differing).toBeLessThan(compared / 1000);
  });

  it('the bus timeline of a real bus rate (whose fits the streams above never free) gives lateness within 1e-6 ns of the reference', () => {
    let compared = 0;
    let differing = 0;
    let streams = 0;
    let restarts = 0;
    let seed = 1;
    for (const jitter of ['uniform', 'stalls', 'none', 'quantised'] as const)
      for (const miscounts of [0, 2e-4]) {
        const run = (fullRefit: boolean) => {
          const random = new Random(seed);
          const bus = new BusTimeline(125_000, { fullRefit });
          const outputs: number[] = [];
          let host = 7e11;
          const ppm = jitter === 'stalls' ? -45 : 23;
          for (let t = 0; t < 15_000; t++) {
            const lost = random.chance(0.002) ? random.int(1, 20) : 0;
            host += (8 + lost) * 125_000 * (1 + ppm * 1e-6);
            // Sometimes intervals are reported lost that went by with transfers: completions look early, a restart.
            const miscounted = random.chance(miscounts) ? 8 : 0;
            let latency = 0;
            if (jitter === 'uniform') latency = random.next() * 300_000;
            else if (jitter === 'stalls') latency = random.chance(0.01) ? random.next() * 40e6 : random.next() * 150_000;
            else if (jitter === 'quantised') latency = Math.round((host + random.next() * 200_000) / 1000) * 1000 - host;
            outputs.push(bus.transfer(8, lost + miscounted, host + latency));
            if (t % 100 === 99) outputs.push(bus.uncertaintyNs);
          }
          return { outputs, runs: bus.runCount };
        };
        const reference = run(true);
        const reused = run(false);
        seed++;
        restarts += reused.runs - 1;
        expect(reused.runs).toBe(reference.runs);
        for (let i = 0; i < reference.outputs.length; i++) {
          compared++;
          if (reused.outputs[i] === reference.outputs[i]) continue;
          differing++;
          expect(Math.abs(reused.outputs[i]! - reference.outputs[i]!), `${jitter}, ${miscounts}: output ${i}`).toBeLessThanOrEqual(1e-6);
        }
        streams++;
      }
    expect(streams).toBe(8);
    expect(restarts).toBeGreaterThan(0);
    expect(compared).toBeGreaterThan(100_000);
    // Only the stream without jitter differs at all: its points are collinear, and a pass may pick another pair of
    // them than the reused line's (the same line up to rounding).
    expect(differing).toBeLessThan(compared / 10);
  });
});
