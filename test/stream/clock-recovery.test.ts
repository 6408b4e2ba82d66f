import { describe, expect, it } from 'vitest';
import { ClockRecovery } from '../../src/stream/clock-recovery.js';
import type { FrameAssemblerOptions } from '../../src/stream/frame-assembler.js';
import { assemblerRig } from './helpers/assembler-rig.js';
import { Random } from './helpers/random.js';
import { concat, header, isoTransfer, pattern, type IsoPacket } from './helpers/transfers.js';

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
    return t + 100_000 + this.random.exponential(600_000) + spike;
  }
}

describe('clock recovery', () => {
  for (const ppm of [150, -80]) {
    it(`translates PTS to host time within 0.5 ms with a device clock off by ${ppm} ppm, through STC and SOF wraps`, () => {
      const sim = new SimulatedClocks(ppm, 7);
      const clock = new ClockRecovery({ clockFrequency: FREQUENCY });
      const errors: number[] = [];
      let lockedAt = Number.NaN;
      // 10 s of high-speed traffic: one SCR per 125 µs packet, a frame captured every 33.3 ms.
      for (let k = 0; k < 300; k++) {
        const capture = T0 + k * 33_333_333 + 1_234_567;
        const pts = sim.stc(capture);
        const firstPacket = capture + 3_000_000;
        for (let p = 0; p < 266; p++) {
          const sent = firstPacket + p * 125_000;
          clock.addSample(sim.stc(sent), sim.sof(sent), sim.arrival(sent));
        }
        const host = clock.toHostNs(pts);
        if (Number.isNaN(host)) {
          expect(Number.isNaN(lockedAt)).toBe(true); // once locked, it stays locked
          continue;
        }
        if (Number.isNaN(lockedAt)) lockedAt = k;
        errors.push(host - capture);
      }
      // uvcvideo's rule: nothing before the window spans 250 ms (8 frames here).
      expect(lockedAt).toBeGreaterThanOrEqual(7);
      expect(lockedAt).toBeLessThan(12);
      const worst = Math.max(...errors.map(Math.abs));
      expect(worst).toBeLessThan(500_000);
    });
  }

  it('does not translate before the window spans 250 ms, and forgets samples after a long pause', () => {
    const sim = new SimulatedClocks(0, 1);
    const clock = new ClockRecovery({ clockFrequency: FREQUENCY });
    for (let t = T0; t < T0 + 240e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    expect(clock.locked).toBe(false);
    expect(Number.isNaN(clock.toHostNs(sim.stc(T0 + 100e6)))).toBe(true);
    for (let t = T0 + 240e6; t < T0 + 400e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    expect(clock.locked).toBe(true);
    // Two seconds of silence: SOF has wrapped, the old samples can no longer be placed.
    const later = T0 + 2_400e6;
    clock.addSample(sim.stc(later), sim.sof(later), later + 1e5);
    expect(clock.locked).toBe(false);
  });

  it('drops repeated SOFs (UVC 1.5 repeats them across a frame) and restarts on a device clock jump', () => {
    const sim = new SimulatedClocks(0, 2);
    const clock = new ClockRecovery({ clockFrequency: FREQUENCY, bucketMs: 1 });
    for (let i = 0; i < 10; i++) clock.addSample(sim.stc(T0), sim.sof(T0), T0 + i);
    expect(clock.sampleCount).toBe(1);
    for (let t = T0; t < T0 + 500e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    expect(clock.locked).toBe(true);
    // The device clock jumps by a second: a reset of the device, not drift.
    const t = T0 + 501e6;
    clock.addSample((sim.stc(t) + FREQUENCY) % 2 ** 32, sim.sof(t), t + 1e5);
    expect(clock.locked).toBe(false);
    expect(clock.sampleCount).toBe(1);
  });

  it('refuses a PTS far from the samples and a device clock far from its nominal frequency', () => {
    const sim = new SimulatedClocks(0, 3);
    const clock = new ClockRecovery({ clockFrequency: FREQUENCY });
    for (let t = T0; t < T0 + 500e6; t += 1e6) clock.addSample(sim.stc(t), sim.sof(t), t + 1e5);
    expect(Number.isNaN(clock.toHostNs(sim.stc(T0 + 400e6)))).toBe(false);
    expect(Number.isNaN(clock.toHostNs((sim.stc(T0 + 400e6) + 10 * FREQUENCY) % 2 ** 32))).toBe(true);
    // dwClockFrequency says 48 MHz, the device counts at 1 MHz.
    const wrong = new ClockRecovery({ clockFrequency: FREQUENCY });
    for (let t = T0; t < T0 + 500e6; t += 1e6) wrong.addSample(Math.floor((t - T0) / 1000), sim.sof(t), t + 1e5);
    expect(wrong.locked).toBe(false);
  });

  it('the assembler timestamps frames with translated PTS once the clock is locked', async () => {
    const sim = new SimulatedClocks(120, 4);
    const options: FrameAssemblerOptions = {
      formatKind: 'mjpeg',
      transferType: 'iso',
      intervalNs: 125_000,
      clockFrequency: FREQUENCY,
    };
    const rig = await assemblerRig(options, { bufferSize: 64 * 1024 });
    const timestamps: { capture: number; arrival: number; stamped: number }[] = [];
    for (let k = 0; k < 40; k++) {
      const capture = T0 + k * 33_333_333;
      const pts = sim.stc(capture);
      const jpeg = concat(Uint8Array.of(0xff, 0xd8), pattern(20_000, k));
      const packets: IsoPacket[] = [];
      // 8 data packets (SCR sampled at send time), then idle packets up to the next frame.
      for (let p = 0; p < 264; p++) {
        const sent = capture + 2_000_000 + p * 125_000;
        const data = p < 8 ? jpeg.subarray(p * 2500, (p + 1) * 2500) : new Uint8Array(0);
        const fid = p < 8 ? k & 1 : (k + 1) & 1;
        packets.push({ bytes: concat(header({ fid, eof: p === 7, pts, scr: { stc: sim.stc(sent), sof: sim.sof(sent) } }), data) });
      }
      // 8 packets per transfer; the transfer completes when its last packet arrived.
      for (let at = 0; at < packets.length; at += 8) {
        const lastSent = capture + 2_000_000 + (at + 7) * 125_000;
        rig.feed(isoTransfer(packets.slice(at, at + 8), { stride: 3072, completedAtNs: sim.arrival(lastSent) }));
      }
      for (const frame of await rig.drain()) {
        timestamps.push({ capture, arrival: capture + 2_000_000, stamped: frame.timestamp });
      }
    }
    expect(timestamps).toHaveLength(40);
    const translated = timestamps.slice(12); // locked after 250 ms
    for (const { capture, stamped } of translated) expect(Math.abs(stamped - capture)).toBeLessThan(500_000);
    // Before the lock, the host arrival of the first packet (late by at least the 2 ms capture latency).
    expect(timestamps[0]!.stamped).toBeGreaterThanOrEqual(timestamps[0]!.arrival);
    expect(rig.assembler.stats.deviceTimestamps).toBeGreaterThanOrEqual(28);
  });
});
