/**
 * Frame timestamps through the whole assembler, against simulated clocks whose truth is known (clock-simulation.ts):
 * strictly increasing from the first frame under every fault, host-anchored and gap-keeping before the device
 * clock locks, accurate after, and the SunplusIT zero-SCR camera locking like any other.
 */
import { describe, expect, it } from 'vitest';
import type { FrameAssemblerOptions } from '../../src/stream/frame-assembler.js';
import { ClockRecovery } from '../../src/stream/clock-recovery.js';
import { FrameTimestamps } from '../../src/stream/frame-timestamps.js';
import { assemblerRig, type AssemblerRig } from './helpers/assembler-rig.js';
import { ClockSimulation, type SimulationOptions } from './clock-simulation.js';

interface Stamped {
  sequence: number;
  timestamp: number;
  /** The true capture instant (NaN for a frame the simulation cannot name: a damaged one). */
  captureNs: number;
  error: boolean;
  locked: boolean;
}

async function run(options: SimulationOptions, frames: number, assembler: Partial<FrameAssemblerOptions> = {}): Promise<{ stamped: Stamped[]; rig: AssemblerRig; sim: ClockSimulation }> {
  const sim = new ClockSimulation(options);
  const rig = await assemblerRig(
    {
      formatKind: 'uncompressed',
      transferType: 'iso',
      expectedFrameSize: sim.frameBytes,
      intervalNs: sim.intervalNs,
      clockFrequency: sim.clockFrequency,
      frameIntervalNs: 1e9 / (options.fps ?? 30),
      ...assembler,
    },
    { bufferSize: sim.frameBytes, buffers: 8 },
  );
  const stamped: Stamped[] = [];
  while (stamped.length < frames) {
    rig.feed(sim.nextTransfer());
    for (const f of await rig.drain()) {
      // Which frame it is: its first bytes say (a frame whose start was lost cannot be named).
      const truth = f.error ? null : sim.frameOf(f.data);
      stamped.push({ sequence: f.sequence, timestamp: f.timestamp, captureNs: truth?.captureNs ?? Number.NaN, error: f.error, locked: rig.assembler.clock?.locked ?? false });
    }
  }
  return { stamped, rig, sim };
}

function strictlyIncreasing(stamped: readonly Stamped[]): number {
  let steps = 0;
  for (let i = 1; i < stamped.length; i++) if (!(stamped[i]!.timestamp > stamped[i - 1]!.timestamp)) steps++;
  return steps;
}

describe('frame timestamps', () => {
  it('are strictly increasing over 10 000 frames with every fault at once', async () => {
    // Full speed (1 ms intervals) keeps the packet count of 10 000 frames manageable.
    const { stamped, rig } = await run(
      {
        seed: 11,
        intervalNs: 1_000_000,
        packetData: 1011,
        frameBytes: 3000,
        packetsPerTransfer: 4,
        jitterMs: 2,
        stallChance: 0.005,
        stallMeanNs: 20_000_000,
        driftPpm: 100,
        zeroScrIdle: true,
        invalidSofRate: 0.9,
        packetLossRate: 0.001,
        gapChance: 0.002,
        stcJumpAtFrame: 5000,
      },
      10_000,
    );
    expect(stamped.length).toBeGreaterThanOrEqual(10_000);
    expect(strictlyIncreasing(stamped)).toBe(0);
    const stats = rig.assembler.timestampStats;
    // The camera reset its clock once: the recovery started over once, and found its SOF counts no bus frames.
    expect(stats.device!.resets).toBe(1);
    expect(stats.device!.deviceSof).toBe('invalid');
    expect(stats.device!.locked).toBe(true);
    // Clamping is the exception it is meant to be: only around the device clock's jump.
    expect(stats.clampedTimestamps).toBeLessThan(5);
    // Whole frames after the lock (and away from the jump) are on time to a fraction of a millisecond.
    const settled = stamped.filter((s, i) => s.locked && !s.error && !Number.isNaN(s.captureNs) && (i < 4900 || i > 5400));
    expect(settled.length).toBeGreaterThan(9000);
    const errors = settled.map((s) => Math.abs(s.timestamp - s.captureNs)).sort((a, b) => a - b);
    expect(errors[Math.floor(errors.length * 0.99)]!).toBeLessThan(500_000);
  }, 120_000);

  it('come from the host clock before the device clock locks, keep their gaps, and never jump back when it locks', async () => {
    // Nothing reaches the process for its first 60 ms (busy at stream start), then completions are 0–2 ms late.
    const { stamped } = await run({ seed: 3, packetsPerTransfer: 32, jitterMs: 2, startStallNs: 60_000_000 }, 300);
    expect(stamped[0]!.timestamp - stamped[0]!.captureNs).toBeGreaterThan(20_000_000);
    const lockedAt = stamped.findIndex((s) => s.locked);
    expect(lockedAt).toBeGreaterThan(0);
    expect(strictlyIncreasing(stamped)).toBe(0);
    for (let i = 1; i < stamped.length; i++) {
      const gap = stamped[i]!.timestamp - stamped[i - 1]!.timestamp;
      const truth = stamped[i]!.captureNs - stamped[i - 1]!.captureNs;
      // Corrections toward earlier are spread out: no gap shrinks by more than 1 %.
      expect(gap, `gap before frame ${i}`).toBeGreaterThanOrEqual(truth * 0.99 - 100); // (a PTS tick is 21 ns)
    }
    // Before the lock the rate is not settled: a timestamp may come a little early, never by a frame's worth.
    for (const s of stamped) expect(s.timestamp - s.captureNs).toBeGreaterThan(-500_000);
    // The first frames were stamped late by the stall; that correction is released 1 % of a gap per frame
    // (0.33 ms at 30 fps), so the error shrinks steadily to the recovery's own.
    const errors = stamped.map((s) => s.timestamp - s.captureNs);
    for (let i = 1; i < 80; i++) expect(errors[i]!).toBeLessThanOrEqual(errors[i - 1]! + 100_000);
    expect(Math.max(...errors.slice(220).map(Math.abs))).toBeLessThan(150_000);
  });

  it('lock within 30 frames for a camera that sends all-zero SCRs between frames (SunplusIT)', async () => {
    const { stamped, rig } = await run({ seed: 5, zeroScrIdle: true, packetsPerTransfer: 32, jitterMs: 0.5 }, 60);
    const lockedAt = stamped.findIndex((s) => s.locked);
    expect(lockedAt).toBeGreaterThanOrEqual(0);
    expect(lockedAt).toBeLessThanOrEqual(30);
    const device = rig.assembler.timestampStats.device!;
    // The zeros were never taken for samples: nothing was rejected, and every frame got a device timestamp.
    expect(device.rejectedSamples).toBe(0);
    expect(device.resets).toBe(0);
    expect(rig.assembler.stats.deviceTimestamps).toBe(stamped.length);
  });

  it('date frames of a camera without PTS or SCR by the bus timeline, not by how late each transfer came', async () => {
    const { stamped, sim } = await run({ seed: 8, noTimestamps: true, packetsPerTransfer: 32, jitterMs: 2 }, 200);
    expect(strictlyIncreasing(stamped)).toBe(0);
    // A frame's first packet goes out readoutNs after the capture and its interval ends one interval later.
    const offsets = stamped.slice(60).map((s) => s.timestamp - s.captureNs - 500_000 - sim.intervalNs);
    // Once the timeline settled, the spread is that of the least delayed completions, not the 2 ms of jitter.
    expect(Math.max(...offsets) - Math.min(...offsets)).toBeLessThan(150_000);
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0);
  });

  it('date a UVC 1.5 camera (one SCR per frame) from the bus timeline as well as one that stamps every packet', async () => {
    const { stamped } = await run({ seed: 9, scrPerFrame: true, packetsPerTransfer: 32, jitterMs: 2 }, 300);
    const lockedAt = stamped.findIndex((s) => s.locked);
    expect(lockedAt).toBeGreaterThanOrEqual(0);
    const errors = stamped.slice(lockedAt).map((s) => Math.abs(s.timestamp - s.captureNs));
    expect(Math.max(...errors)).toBeLessThan(150_000);
  });

  it('keep the gap the device clock measured across a frame whose translation is implausible (a line late by a stall)', () => {
    const frequency = 48_000_000;
    const t0 = 7_000_000_000_000;
    const stc = (t: number) => Math.floor(((t - t0) * frequency) / 1e9) >>> 0;
    const clock = new ClockRecovery({ clockFrequency: frequency });
    const timestamps = new FrameTimestamps(clock);
    // The first 36 ms of samples reach the process in a burst 100 ms late (a stall at the stream start); frame 0,
    // captured at 50 ms, ends in the same burst. Translated by the line from the burst it seems captured 14 ms
    // after it arrived: implausible, so it is stamped from its arrival.
    for (let t = t0; t <= t0 + 36e6; t += 1e6) clock.addSample(stc(t), (t - t0) / 1e6, t0 + 100e6 + (t - t0) / 1000);
    const first = timestamps.stamp(stc(t0 + 50e6), t0 + 100.05e6, t0 + 100.1e6);
    expect(timestamps.stats.implausibleTimestamps).toBe(1);
    // Then samples on time, and frame 1 captured 33.3 ms after frame 0: translated, it is earlier than frame 0's
    // host stamp. What the device clock measured between the two still holds them apart.
    for (let t = t0 + 101e6; t <= t0 + 120e6; t += 1e6) clock.addSample(stc(t), (t - t0) / 1e6, t + 1e5);
    const second = timestamps.stamp(stc(t0 + 83.33e6), t0 + 121e6, t0 + 122e6);
    expect(timestamps.stats.implausibleTimestamps).toBe(1);
    expect(second - first).toBeGreaterThanOrEqual(33.33e6 * 0.99);
  });
});
