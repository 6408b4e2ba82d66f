// What needs no device: opening one that is not there, bad arguments, and misuse of the raw binding. Every
// failure must be a clear UvcError (or a thrown error with a POSIX code from the raw binding), never a crash.
import { describe, expect, it } from 'vitest';

import { UvcError } from '../../src/errors.js';
import { loadNativeAddon, openNativeDevice, parsePortPath } from '../../src/transport/native/index.js';
import type { NativeDeviceTarget } from '../../src/transport/native/index.js';

const addon = loadNativeAddon();

async function rejection(promise: Promise<unknown>): Promise<UvcError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UvcError);
    return error as UvcError;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('opening a device that is not there', () => {
  it('fails ENOENT naming the bus and address', async () => {
    const error = await rejection(openNativeDevice({ busNumber: 250, deviceAddress: 127 }));
    expect(error.code).toBe('ENOENT');
    expect(error.message).toContain('no USB device at bus 250 address 127');
  });

  it('fails ENOENT naming the port path', async () => {
    const error = await rejection(openNativeDevice({ portPath: '9-9.9.9' }));
    expect(error.code).toBe('ENOENT');
    expect(error.message).toContain('no USB device at port 9-9.9.9');
  });

  it('survives many concurrent attempts and leaves no native object behind', async () => {
    const attempts = Array.from({ length: 32 }, (_, i) =>
      rejection(openNativeDevice(i % 2 ? { busNumber: 200 + (i % 50), deviceAddress: 1 + i } : { portPath: `7-${1 + i}` })),
    );
    const errors = await Promise.all(attempts);
    expect(new Set(errors.map((e) => e.code))).toEqual(new Set(['ENOENT']));
    expect(addon.liveObjects()).toEqual({ devices: 0, streams: 0, blocks: 0 });
  });
});

describe('bad targets', () => {
  const bad: Array<[string, unknown]> = [
    ['bus 0', { busNumber: 0, deviceAddress: 1 }],
    ['bus 256', { busNumber: 256, deviceAddress: 1 }],
    ['fractional bus', { busNumber: 1.5, deviceAddress: 1 }],
    ['string bus', { busNumber: '1', deviceAddress: 1 }],
    ['address 0', { busNumber: 1, deviceAddress: 0 }],
    ['address 128', { busNumber: 1, deviceAddress: 128 }],
    ['missing address', { busNumber: 1 }],
    ['port path without ports', { portPath: '1-' }],
    ['port path with an empty port', { portPath: '1-2..3' }],
    ['port 256', { portPath: '1-256' }],
    ['port path of words', { portPath: 'usb camera' }],
    ['port path with 8 ports', { portPath: '1-1.2.3.4.5.6.7.8' }],
    ['null', null],
  ];
  it.each(bad)('rejects %s with EINVAL', async (_, target) => {
    const error = await rejection(openNativeDevice(target as NativeDeviceTarget));
    expect(error.code).toBe('EINVAL');
  });

  it('rejects a zero open timeout', async () => {
    const error = await rejection(openNativeDevice({ busNumber: 1, deviceAddress: 1 }, { timeoutMs: 0 }));
    expect(error.code).toBe('EINVAL');
  });

  it('parses port paths like Linux names them', () => {
    expect(parsePortPath('1-2.3')).toEqual({ busNumber: 1, ports: [2, 3] });
    expect(parsePortPath('3-1')).toEqual({ busNumber: 3, ports: [1] });
    expect(parsePortPath('2-0')).toEqual({ busNumber: 2, ports: [] });
  });
});

describe('misusing the raw binding', () => {
  it('rejects bad arguments with EINVAL, synchronously', () => {
    expect(thrown(() => addon.openDevice('1' as unknown as number, 1)).code).toBe('EINVAL');
    expect(thrown(() => addon.openDevice(1, Number.NaN)).code).toBe('EINVAL');
    expect(thrown(() => addon.openDevice(1, Infinity)).code).toBe('EINVAL');
    expect(thrown(() => addon.openDeviceByPort(1, 'x' as unknown as number[])).code).toBe('EINVAL');
    expect(thrown(() => addon.openDeviceByPort(1, [0])).code).toBe('EINVAL');
    expect(thrown(() => addon.openDeviceByPort(1, [1, 2, 3, 4, 5, 6, 7, 8])).code).toBe('EINVAL');
    expect(thrown(() => addon.openDeviceByPort(1, [1, 'a' as unknown as number])).code).toBe('EINVAL');
  });

  it('refuses to construct devices and streams from JavaScript', () => {
    expect(thrown(() => new addon.Device()).code).toBe('EINVAL');
    expect(thrown(() => new addon.Stream()).code).toBe('EINVAL');
    const Device = addon.Device as unknown as (...args: unknown[]) => unknown;
    expect(thrown(() => Device()).message).toMatch(/constructor|new/i);
  });

  it('throws (and does not crash) when methods are called on the wrong object', () => {
    const device = addon.Device.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    const stream = addon.Stream.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ['close', 'claimInterface', 'controlTransfer', 'startStream']) {
      expect(() => device[name]!.call({}, 0)).toThrow();
      expect(() => device[name]!.call(undefined, 0)).toThrow();
    }
    for (const name of ['release', 'stop', 'stats']) {
      expect(() => stream[name]!.call({}, 0)).toThrow();
      expect(() => stream[name]!.call(Object.create(addon.Stream.prototype as object), 0)).toThrow();
    }
    expect(() => Object.getOwnPropertyDescriptor(addon.Device.prototype, 'state')!.get!.call({})).toThrow();
  });
});
