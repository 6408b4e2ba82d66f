/**
 * Timestamps do not move when the clock code is made faster: seeded streams of SCR samples, frame PTS and iso
 * completions (jittered arrivals, stalls, rate errors, an STC wrap, a device clock jump, frames without PTS)
 * replayed through ClockRecovery, FrameTimestamps and BusTimeline, every output kept bit for bit (timestamps,
 * bus lateness, the clock's stats every 50 frames) and hashed. The digest was recorded from commit 2e06a8e, the
 * code before the envelope fit stopped copying its candidates out (bench/RESULTS.md, "the clock's fit without
 * copies"). A change that moves any timestamp by one bit fails here; a deliberate change to the algorithm must
 * say so and record the new digest.
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
  jitter: 'uniform' | 'stalls';
  ppm: number;
}

interface Replay {
  values: number[];
  deviceTimestamps: number;
  lockedChecks: number;
  rejectedSamples: number;
  resets: number;
}

function replay(s: Scenario, seed: number): Replay {
  const random = new Random(seed);
  const delay = () => (s.jitter === 'uniform' ? random.next() * 80_000 : random.next() < 0.02 ? 2e6 + random.next() * 30e6 : random.next() * 200_000);
  const clock = new ClockRecovery({ clockFrequency: s.hz });
  const timestamps = new FrameTimestamps(clock);
  const bus = new BusTimeline(125_000);
  const values: number[] = [];
  // The STC starts 3 s before its wrap at 48 MHz; the device clock jumps 7.3 s at frame 400 of stall scenarios.
  let device = s.hz === 48e6 ? 4294967296 - 48e6 * 3 : 1000;
  let host = 5e11;
  let lockedChecks = 0;
  const samplePeriodNs = 33_333_333 / s.samplesPerFrame;
  for (let f = 0; f < 700; f++) {
    if (s.jitter === 'stalls' && f === 400) device += 7.3e9;
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
      values.push(bus.transfer(8, k === 0 && f % 97 === 5 ? 2 : 0, arrival + delay()));
    }
    const pts = f % 53 === 7 ? -1 : Math.floor(ptsDevice) % 4294967296;
    values.push(timestamps.stamp(pts, firstArrival, lastArrival));
    if (f % 50 === 49) {
      const stats = clock.stats;
      if (stats.locked) lockedChecks++;
      values.push(stats.locked ? 1 : 0, stats.driftPpm, stats.uncertaintyUs ?? -1, stats.rejectedSamples, stats.resets, bus.uncertaintyNs);
    }
  }
  const stats = clock.stats;
  return { values, deviceTimestamps: timestamps.stats.deviceTimestamps, lockedChecks, rejectedSamples: stats.rejectedSamples, resets: stats.resets };
}

describe('clock replay: timestamps bit for bit', () => {
  it('gives the recorded timestamps for seeded streams, and the streams exercise lock, rejection and reset', () => {
    const all: number[] = [];
    let seed = 1;
    let locked = 0;
    let rejected = 0;
    let resets = 0;
    for (const hz of [48e6, 1e6])
      for (const samplesPerFrame of [1, 12])
        for (const jitter of ['uniform', 'stalls'] as const)
          for (const ppm of [37, -120]) {
            const r = replay({ hz, samplesPerFrame, jitter, ppm }, seed++);
            // Most frames are stamped from the device clock (the rest: no PTS, a jump, before the first sample).
            expect(r.deviceTimestamps, `${hz} Hz, ${samplesPerFrame}/frame, ${jitter}, ${ppm} ppm`).toBeGreaterThan(500);
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
});
