/** Timing and summary helpers shared by the benchmarks. */
import { setImmediate as turn } from 'node:timers/promises';

export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Linear-interpolated quantile of unsorted values (NaN for none). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** Rounds to `digits` significant digits, for JSON that stays readable. */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const scale = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * scale) / scale;
}

/** Progress goes to stderr, so stdout carries nothing but the result. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** A full garbage collection, if the process was started with --expose-gc (the runner does that). */
export async function collectGarbage(): Promise<boolean> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return false;
  // Twice, with a turn of the event loop between, so weak callbacks and finalizers have run.
  gc();
  await turn();
  gc();
  return true;
}

export interface CpuSample {
  wallNs: number;
  cpuUs: { user: number; system: number };
}

export function cpuStart(): CpuSample {
  return { wallNs: nowNs(), cpuUs: process.cpuUsage() };
}

/** Wall and CPU time (user + system) since `start`, in ms. */
export function cpuSince(start: CpuSample): { wallMs: number; cpuMs: number; userMs: number; systemMs: number } {
  const cpu = process.cpuUsage(start.cpuUs);
  return {
    wallMs: (nowNs() - start.wallNs) / 1e6,
    cpuMs: (cpu.user + cpu.system) / 1000,
    userMs: cpu.user / 1000,
    systemMs: cpu.system / 1000,
  };
}
