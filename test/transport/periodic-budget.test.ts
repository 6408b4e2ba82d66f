/**
 * The periodic budget arithmetic against figures worked out by hand from Linux's formulas (usb_calc_bus_time,
 * HS_USECS_ISO, xhci_get_ss_bw_consumed) and limits (900 µs per frame, 100 µs per microframe, 3906 − 391 blocks).
 */
import { describe, expect, it } from 'vitest';
import { BUDGET_LIMITS, PeriodicSchedule, endpointCost, type PeriodicEndpoint } from '../../src/transport/periodic-budget.js';

const iso = (wMaxPacketSize: number, extra: Partial<PeriodicEndpoint> = {}): PeriodicEndpoint => ({ address: 0x81, kind: 'iso', wMaxPacketSize, bInterval: 1, ...extra });
const hb = (transactions: number): number => 1024 | ((transactions - 1) << 11);

describe('endpoint costs', () => {
  it('high speed: HS_USECS_ISO of size × transactions, every microframe', () => {
    const costs = [128, 256, 512, 1024, hb(2), hb(3)].map((w) => endpointCost('high', iso(w)));
    expect(costs.map((c) => c.amount)).toEqual([4, 6, 11, 21, 41, 61]);
    expect(costs.every((c) => c.period === 1 && c.direction === 'in')).toBe(true);
  });

  it('high speed interrupt: HS_USECS, once per 2^(bInterval−1) microframes, kept within the 64-microframe schedule', () => {
    const status = endpointCost('high', { address: 0x82, kind: 'interrupt', wMaxPacketSize: 16, bInterval: 8 });
    expect(status).toMatchObject({ amount: 2, period: 64 });
    expect(endpointCost('high', { address: 0x82, kind: 'interrupt', wMaxPacketSize: 64, bInterval: 4 }).period).toBe(8);
  });

  it('full speed: usb_calc_bus_time in whole µs per 1 ms frame', () => {
    expect([128, 512, 1023].map((w) => endpointCost('full', iso(w)).amount)).toEqual([109, 408, 807]);
    // An OUT iso endpoint has a shorter handshake-free turnaround (6265 ns against 7268 ns).
    expect(endpointCost('full', iso(1023, { address: 0x01 })).amount).toBe(806);
    expect(endpointCost('full', { address: 0x82, kind: 'interrupt', wMaxPacketSize: 16, bInterval: 16 })).toMatchObject({ amount: 23, period: 16 });
    // Full-speed interrupt bInterval counts frames; the period is the power of two below it.
    expect(endpointCost('full', { address: 0x82, kind: 'interrupt', wMaxPacketSize: 8, bInterval: 10 }).period).toBe(8);
  });

  it('SuperSpeed: xHCI blocks for bursts × Mult, with burst overhead, averaged over the period', () => {
    const bursts: Array<[number, number]> = [[0, 0], [1, 0], [3, 0], [7, 0], [15, 0], [15, 1], [15, 2]];
    expect(bursts.map(([maxBurst, mult]) => endpointCost('super', iso(1024, { maxBurst, mult })).amount)).toEqual([104, 176, 320, 608, 1184, 2336, 3488]);
    expect(endpointCost('super', { address: 0x82, kind: 'interrupt', wMaxPacketSize: 16, bInterval: 8 }).amount).toBe(1);
    expect(endpointCost('super', iso(1024, { maxBurst: 15, mult: 2, bInterval: 2 })).amount).toBe(Math.ceil((3 * 16 * (8 + 64 + 32)) / 2));
  });

  it('refuses descriptors that cannot exist', () => {
    for (const bad of [iso(70000), iso(512, { bInterval: -1 })]) {
      expect(() => endpointCost('high', bad)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });
});

describe('PeriodicSchedule', () => {
  it('limits: 80 % of a microframe, 90 % of a frame, xHCI SuperSpeed less 10 %', () => {
    expect(BUDGET_LIMITS.high).toMatchObject({ limit: 100, whole: 125, unit: 'µs' });
    expect(BUDGET_LIMITS.full).toMatchObject({ limit: 900, whole: 1000 });
    expect(BUDGET_LIMITS.super).toMatchObject({ limit: 3515, whole: 3906, unit: 'blocks' });
  });

  it('fits 3×1024 with 1024 in a microframe but not with 2×1024', () => {
    const schedule = new PeriodicSchedule('high');
    const big = schedule.place([endpointCost('high', iso(hb(3)))]);
    expect(big).not.toBeNull();
    schedule.add(big!);
    expect(schedule.peak).toBe(61);
    expect(schedule.place([endpointCost('high', iso(hb(2)))])).toBeNull();
    const small = schedule.place([endpointCost('high', iso(1024))]);
    expect(small).not.toBeNull();
    schedule.add(small!);
    expect(schedule.free).toBe(100 - 82);
    schedule.remove(big!);
    expect(schedule.peak).toBe(21);
  });

  it('puts endpoints with longer periods in different phases', () => {
    const schedule = new PeriodicSchedule('high');
    const every2 = endpointCost('high', iso(hb(3), { bInterval: 2 }));
    const first = schedule.place([every2])!;
    schedule.add(first);
    const second = schedule.place([every2])!;
    expect(second).not.toBeNull();
    expect(second[0]!.phase).not.toBe(first[0]!.phase);
    schedule.add(second);
    expect(schedule.peak).toBe(61);
    expect(schedule.place([every2])).toBeNull();
  });

  it('SuperSpeed keeps IN and OUT apart', () => {
    const schedule = new PeriodicSchedule('super');
    const full = endpointCost('super', iso(1024, { maxBurst: 15, mult: 2 }));
    schedule.add(schedule.place([full])!);
    expect(schedule.place([full])).toBeNull();
    expect(schedule.place([{ ...full, direction: 'out' }])).not.toBeNull();
    expect(schedule.free).toBe(3515 - 3488);
  });
});
