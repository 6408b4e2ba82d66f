import { describe, expect, it } from 'vitest';
import { ClockRecovery } from '../../src/stream/clock-recovery.js';
import { Random } from './helpers/random.js';

const T0 = 5_000_000_000_000; // host CLOCK_MONOTONIC at the start, ns
const FREQUENCY = 48_000_000;

/** A camera's clocks seen from the host: a drifting device clock, the bus SOF, and late packet arrival. */
class SimulatedClocks {
  readonly random: Random;
  constructor(
    readonly ppm: number,
    seed: number,
    readonly stc0 = 2 ** 32 - 300_000_000, // wraps after about 6 s
    readonly sof0 = 2000, // wraps after 48 ms
  ) {
    this.random = new Random(seed);
  }
  /** Device clock at host time t. */
  stc(t: number): number {
    const ticks = ((t - T0) * FREQUENCY * (1 + this.ppm * 1e-6)) / 1e9;
    return (this.stc0 + Math.floor(ticks)) % 2 ** 32;
  }
  /** USB frame number at host time t (the host drives the bus). */
  sof(t: number): number {
    return (this.sof0 + Math.floor((t - T0) / 1e6)) & 2047;
  }
  /** When a packet sent at t reaches JavaScript: never early, usually a little late, sometimes very late. */
  arrival(t: number): number {
    const spike = this.random.chance(0.02) ? this.random.exponential(8e6) : 0;
    return t + 20_000 + this.random.exponential(600_000) + spike;
  }
}

/** 30 fps for `seconds`: each frame's PTS, then 1 ms samples while it is sent; the translation of each PTS. */
function stream(clock: ClockRecovery, sim: SimulatedClocks, seconds: number): { error: number; locked: boolean }[] {
  const out: { error: number; locked: boolean }[] = [];
  for (let k = 0; k < seconds * 30; k++) {
    const capture = T0 + k * 33_333_333 + 1_234_567;
    for (let p = 0; p < 33; p++) {
      const sent = capture + 500_000 + p * 1_000_000;
      clock.addSample(sim.stc(sent), sim.sof(sent), sim.arrival(sent));
    }
    const host = clock.toHostNs(sim.stc(capture));
    out.push({ error: host - capture, locked: clock.locked });
  }
  return out;
}

describe('clock recovery', () => {
  for (const ppm of [150, -80]) {
    it(`translates PTS to host time within 100 µs of the least latency once locked, device clock off by ${ppm} ppm, through STC and SOF wraps`, () => {
      const sim = new SimulatedClocks(ppm, 7);
      const clock = new ClockRecovery({ clockFrequency: FREQUENCY });
      const frames = stream(clock, sim, 10);
      const lockedAt = frames.findIndex((f) => f.locked);
      // uvcvideo's rule: nothing before the window spans 250 ms (8 frames here); then the error estimate decides.
      expect(lockedAt).toBeGreaterThanOrEqual(7);
      expect(lockedAt).toBeLessThan(60);
      const after = frames.slice(lockedAt);
      expect(after.every((f) => f.locked)).toBe(true); // once locked, it stays locked
      const least = 20_000; // the least latency any packet had: invisible from the host, so it stays in the error
      for (const f of after) expect(Math.abs(f.error - least)).toBeLessThan(100_000);
      expect(clock.stats.driftPpm).toBeCloseTo(ppm, -1);
      expect(clock.stats.deviceSof).toBe('valid');
      expect(clock.stats.rejectedSamples).toBe(0);
    });
  }

  it('translates from the first sample (provisionally, on the host clock) and locks only once the window spans 250 ms', () => {
    const sim = new SimulatedClocks(0, 1);
    const clock = new ClockRecovery({ clockFrequency: FREQUENCY });
    expect(Number.isNaN(clock.toHostNs(sim.stc(T0)))).toBe(true);
    clock.addSample(sim.stc(T0), sim.sof(T0), T0 + 300_000);
    // One sample: the nominal rate from where it arrived (late by its latency, never early).
    const first = clock.toHostNs(sim.stc(T0 - 10_000_000));
    expect(first - (T0 - 10_000_000)).toBeGreaterThanOrEqual(0);
    expect(first - (T0 - 10_000_000)).toBeLessThan(400_000);
    for (let t = T0; t < T0 + 240e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    expect(clock.locked).toBe(false);
    for (let t = T0 + 240e6; t < T0 + 400e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    expect(clock.locked).toBe(true);
    expect(Math.abs(clock.toHostNs(sim.stc(T0 + 350e6)) - (T0 + 350e6 + 1e5))).toBeLessThan(1_000);
  });

  it('bridges a pause of many seconds (the STC is unwrapped by the host time that passed)', () => {
    const sim = new SimulatedClocks(30, 2, 2 ** 32 - 48_000_000);
    const clock = new ClockRecovery({ clockFrequency: FREQUENCY });
    for (let t = T0; t < T0 + 1e9; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 5e4);
    // 100 s of silence: the 32-bit STC wrapped once (89 s), the SOF many times.
    const later = T0 + 101e9;
    for (let t = later; t < later + 5e8; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 5e4);
    expect(clock.stats.resets).toBe(0);
    expect(Math.abs(clock.toHostNs(sim.stc(later + 4e8)) - (later + 4e8 + 5e4))).toBeLessThan(20_000);
  });

  it('rejects a sample from the future, and starts over when the device clock jumps (eight agreeing samples)', () => {
    const sim = new SimulatedClocks(0, 3);
    const clock = new ClockRecovery({ clockFrequency: FREQUENCY, bucketMs: 1 });
    for (let i = 0; i < 10; i++) clock.addSample(sim.stc(T0), sim.sof(T0), T0 + 1e5 + i);
    expect(clock.stats.samples).toBe(1); // a repeated SCR is one sample (UVC 1.5 repeats it across a frame)
    for (let t = T0; t < T0 + 500e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    expect(clock.locked).toBe(true);
    // An STC 30 ms ahead of its arrival: a packet cannot carry a clock value from its future.
    let t = T0 + 500e6;
    clock.addSample((sim.stc(t) + 30 * 48_000) % 2 ** 32, sim.sof(t), t + 1e5);
    expect(clock.stats.rejectedSamples).toBe(1);
    expect(clock.locked).toBe(true);
    // The device clock jumps by a second and stays there: a reset of the device, not drift.
    for (let i = 1; i <= 8; i++) {
      t = T0 + 500e6 + i * 1e6;
      clock.addSample((sim.stc(t) + FREQUENCY) % 2 ** 32, sim.sof(t), t + 1e5);
    }
    expect(clock.stats.resets).toBe(1);
    expect(clock.locked).toBe(false);
    expect(clock.sampleCount).toBeLessThanOrEqual(2);
  });

  it('takes the samples a stall at the stream start held back for a line that was late, not for a device clock jump', () => {
    const sim = new SimulatedClocks(0, 6);
    const clock = new ClockRecovery({ clockFrequency: FREQUENCY });
    // The process stalls for 900 ms from the stream start. The host had 100 ms of transfers queued: their samples
    // come in a burst at the stall's end, then the bus time no transfer covered is gone, then samples come on time.
    const stallEnd = T0 + 900e6;
    for (let t = T0; t < T0 + 100e6; t += 1e6) {
      clock.addSample(sim.stc(t), sim.sof(t), stallEnd + (t - T0) / 1000);
      // A frame stamped in the burst fits the line from it: late by the stall.
      if (t === T0 + 40e6) expect(clock.toHostNs(sim.stc(t)) - t).toBeGreaterThan(800e6);
    }
    for (let t = stallEnd; t < stallEnd + 500e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    // The on-time samples were earlier than that line by 800 ms: the line was late, the device clock ran on.
    expect(clock.stats.rejectedSamples).toBe(0);
    expect(clock.stats.resets).toBe(0);
    expect(Math.abs(clock.toHostNs(sim.stc(stallEnd + 450e6)) - (stallEnd + 450e6 + 1e5))).toBeLessThan(1_000);
  });

  it('refuses a PTS far from the samples, and a device clock far from dwClockFrequency', () => {
    const sim = new SimulatedClocks(0, 4);
    const clock = new ClockRecovery({ clockFrequency: FREQUENCY });
    for (let t = T0; t < T0 + 500e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    expect(Number.isNaN(clock.toHostNs(sim.stc(T0 + 400e6)))).toBe(false);
    expect(Number.isNaN(clock.toHostNs((sim.stc(T0 + 400e6) + 10 * FREQUENCY) % 2 ** 32))).toBe(true);
    // dwClockFrequency says 48 MHz, the device counts at 1 MHz.
    const wrong = new ClockRecovery({ clockFrequency: FREQUENCY });
    for (let t = T0; t < T0 + 3500e6; t += 1e6) wrong.addSample(Math.floor((t - T0) / 1000), sim.sof(t), t + 1e5);
    expect(wrong.locked).toBe(false);
    expect(Number.isNaN(wrong.toHostNs(3_400_000))).toBe(true);
  });

  it('finds out from its behaviour that a camera SOF does not count bus frames (invalid-device-sof), or is told so', () => {
    const sim = new SimulatedClocks(0, 5);
    const detecting = new ClockRecovery({ clockFrequency: FREQUENCY });
    const told = new ClockRecovery({ clockFrequency: FREQUENCY, deviceSofInvalid: true });
    expect(told.deviceSofInvalid).toBe(true);
    for (let t = T0; t < T0 + 2e9; t += 1e6) {
      // The C922's counter: the device clock / 65536 (732 Hz), not the bus SOF.
      const stc = sim.stc(t);
      detecting.addSample(stc, (stc >>> 16) & 0x7ff, sim.arrival(t));
      told.addSample(stc, (stc >>> 16) & 0x7ff, sim.arrival(t));
    }
    expect(detecting.stats.deviceSof).toBe('invalid');
    expect(told.stats.deviceSof).toBe('invalid');
    // Neither needs the SOF: both lock and translate.
    for (const clock of [detecting, told]) {
      expect(clock.locked).toBe(true);
      expect(Math.abs(clock.toHostNs(sim.stc(T0 + 1.9e9)) - (T0 + 1.9e9))).toBeLessThan(100_000);
    }
  });
});
