/**
 * Time on the virtual bus. The bus clock counts bus intervals (125 µs microframes at high and SuperSpeed, 1 ms
 * frames at full speed); the SOF frame number is that count in 1 ms frames, modulo 2048. In 'realtime' pace
 * the count follows the monotonic wall clock; in 'fast' pace it is virtual and moves only when a transfer
 * consumes bus time. The device clock (the STC behind PTS and SCR) runs at dwClockFrequency off the same
 * time base, optionally drifting by some ppm, from an arbitrary start value like a real free-running counter.
 */
import type { Pace } from './types.js';

export interface BusClock {
  readonly pace: Pace;
  readonly intervalUs: number;
  readonly intervalsPerFrame: number;
  /** The current bus interval. */
  now(): number;
  /** Real milliseconds until bus interval `interval` begins (0 if it has, and always 0 in 'fast' pace). */
  msUntil(interval: number): number;
  /** 'fast' pace: let virtual time reach `interval` (never moves back). No effect in 'realtime'. */
  advanceTo(interval: number): void;
  /**
   * The host clock (process.hrtime, ns) at (fractional) bus interval `interval`. 'fast' pace: virtual time has
   * no host instant, so this is the host clock now.
   */
  hostNs(interval: number): number;
}

export function sofFrameNumber(clock: BusClock, interval: number): number {
  return Math.floor(interval / clock.intervalsPerFrame) & 0x7ff;
}

export class RealtimeBusClock implements BusClock {
  readonly pace = 'realtime' as const;
  private readonly epochNs = process.hrtime.bigint();
  private readonly intervalNs: bigint;

  constructor(
    readonly intervalUs: number,
    /** Where the count starts: the SOF counter of a real bus is somewhere arbitrary when a device arrives. */
    private readonly start: number,
  ) {
    this.intervalNs = BigInt(intervalUs * 1000);
  }

  get intervalsPerFrame(): number {
    return 1000 / this.intervalUs;
  }

  now(): number {
    return this.start + Number((process.hrtime.bigint() - this.epochNs) / this.intervalNs);
  }

  msUntil(interval: number): number {
    const targetNs = BigInt(Math.max(0, interval - this.start)) * this.intervalNs;
    const remaining = Number(targetNs - (process.hrtime.bigint() - this.epochNs)) / 1e6;
    return remaining > 0 ? remaining : 0;
  }

  advanceTo(): void {}

  hostNs(interval: number): number {
    return Number(this.epochNs) + (interval - this.start) * this.intervalUs * 1000;
  }
}

export class VirtualBusClock implements BusClock {
  readonly pace = 'fast' as const;
  private current: number;

  constructor(
    readonly intervalUs: number,
    start: number,
  ) {
    this.current = start;
  }

  get intervalsPerFrame(): number {
    return 1000 / this.intervalUs;
  }

  now(): number {
    return this.current;
  }

  msUntil(): number {
    return 0;
  }

  advanceTo(interval: number): void {
    if (interval > this.current) this.current = interval;
  }

  hostNs(): number {
    return Number(process.hrtime.bigint());
  }
}

/** The device's source time clock: ticks at `frequency` (± drift) from `offset`, sampled at bus time. */
export class DeviceClock {
  private readonly ticksPerInterval: number;

  constructor(
    readonly frequency: number,
    intervalUs: number,
    driftPpm: number,
    private readonly offset: number,
  ) {
    this.ticksPerInterval = (frequency * intervalUs * (1 + driftPpm / 1e6)) / 1e6;
  }

  /** The 32-bit STC at (possibly fractional) bus interval `interval`. */
  at(interval: number): number {
    return (Math.floor(interval * this.ticksPerInterval) + this.offset) % 4294967296 >>> 0;
  }
}
