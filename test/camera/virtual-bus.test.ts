/**
 * Several virtual cameras on one VirtualBus: the in-process host books periodic bandwidth at SET_CONFIGURATION
 * and SET_INTERFACE as Linux does, refuses what does not fit with ENOSPC (naming who holds the bandwidth and a
 * mode that fits), frees it on streamoff, close and unplug; and planBandwidth() agrees with what streaming does.
 *
 * High-speed costs (EHCI, 100 of 125 µs per microframe): YUYV 640×480 at 30 fps → alt 6 (3×1024, 61 µs),
 * 15 fps → alt 5 (2×1024, 41 µs), 5 fps → alt 3 (512, 11 µs); each status endpoint 2 µs every 64 microframes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, planBandwidth, type Camera } from '../../src/camera/index.js';
import { isUvcError, type UvcError } from '../../src/errors.js';
import { openVirtualDevice } from '../../src/transport/virtual/virtual-transport.js';
import { VirtualBus } from '../../src/transport/virtual/virtual-bus.js';
import { VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { expectCode, stampOf } from './helpers.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

// Real-time pace: a camera holding its bandwidth streams at its frame rate in the background and costs little
// CPU (fast pace would render and move frames as fast as the machine goes).
const FAST: VirtualCameraOptions = { frameCache: 8 };

async function plugged(bus: VirtualBus, name: string, options: VirtualCameraOptions = FAST): Promise<{ vcam: VirtualCamera; camera: Camera }> {
  const vcam = new VirtualCamera(options);
  bus.plug(vcam, { name });
  const camera = await openCamera(vcam);
  open.push(camera);
  return { vcam, camera };
}

function queueAll(queue: Camera['queue'], count: number): void {
  const n = queue.reqbufs(count);
  for (let i = 0; i < n; i++) queue.qbuf(i);
}

/**
 * Streams until `count` whole frames came, each of the camera's own size with a readable stamp. (A loaded machine
 * may stall the event loop long enough to lose packets: such frames come back flagged and are not counted.)
 */
async function streamSome(camera: Camera, count = 2): Promise<void> {
  const queue = camera.queue;
  const { width, height } = camera.format!;
  if (!queue.streaming) queueAll(queue, 3);
  await queue.streamon();
  for (let good = 0, seen = 0; good < count; seen++) {
    expect(seen).toBeLessThan(count + 50);
    const buffer = await queue.dqbuf({ timeoutMs: 20_000 });
    if (!buffer.flags.error) {
      expect(buffer.bytesused).toBe(width * height * 2);
      expect(stampOf(buffer, width, height)).not.toBeNull();
      good++;
    }
    queue.qbuf(buffer.index);
  }
}

describe('VirtualBus', () => {
  it('puts devices on numbered ports of its bus and refuses a device of another speed', async () => {
    const bus = new VirtualBus({ speed: 'high', busNumber: 7 });
    const { camera } = await plugged(bus, 'left');
    await plugged(bus, 'right');
    expect(camera.info).toMatchObject({ busNumber: 7, deviceAddress: 1, portPath: '7-1' });
    expect(bus.devices.map((d) => `${d.name}@${d.portPath}`)).toEqual(['left@7-1', 'right@7-2']);
    await expectCode(() => bus.plug(new VirtualCamera({ speed: 'super' })), 'EINVAL');
    const vcam = new VirtualCamera(FAST);
    bus.plug(vcam);
    await expectCode(() => new VirtualBus().plug(vcam), 'EBUSY');
    // Configured devices hold their status endpoints (2 µs each, in different microframes of the schedule).
    expect(bus.usage.holdings.map((h) => `${h.device}:${h.interfaceNumber}/${h.altSetting}=${h.amount}`)).toEqual(['left:0/0=2', 'right:0/0=2']);
    expect(bus.usage).toMatchObject({ speed: 'high', unit: 'µs', limit: 100, used: 2 });
  });

  it('streams two cameras whose modes fit, and refuses a third with ENOSPC naming the holders and a mode that fits', async () => {
    const bus = new VirtualBus();
    const a = await plugged(bus, 'A');
    const b = await plugged(bus, 'B');
    const c = await plugged(bus, 'C');
    await a.camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480, fps: 30 });
    await b.camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480, fps: 5 });
    await streamSome(a.camera);
    await streamSome(b.camera);
    expect(bus.usage.used).toBe(61 + 11 + 2);

    const wanted = await c.camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480, fps: 15 });
    expect(wanted.altSetting).toBe(5);
    const queue = c.camera.queue;
    queueAll(queue, 3);
    const error = (await expectCode(queue.streamon(), 'ENOSPC')) as UvcError;
    expect(error.message).toMatch(/YUY2 640x480 at 15 fps cannot stream now/);
    expect(error.message).toMatch(/held by 'A' \(1?\d*-1\) interface 0 alt 0 \(2\), 'A' .* interface 1 alt 6 \(61\), 'B' .* interface 1 alt 3 \(11\)/);
    expect(error.message).toMatch(/YUY2 640x480 at 5 fps would fit \(alt setting 3\)/);
    expect(error.details).toMatchObject({ needed: 41, limit: 100, fittingAltSettings: [0, 1, 2, 3, 4], suggestion: { width: 640, height: 480, altSetting: 3 } });
    expect(c.vcam.streaming).toBe(false); // the request never reached the device
    expect(queue.streaming).toBe(false);

    // The suggestion streams.
    queue.reqbufs(0);
    await c.camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480, fps: 5 });
    await streamSome(c.camera);
    expect(bus.usage.used).toBe(61 + 11 + 11 + 2);
    // Every camera still streams its own frames.
    await streamSome(a.camera, 2);
    await streamSome(b.camera, 2);
  });

  it('frees bandwidth on streamoff, on close and on unplug', async () => {
    const bus = new VirtualBus();
    const a = await plugged(bus, 'A');
    const b = await plugged(bus, 'B');
    for (const { camera } of [a, b]) await camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480, fps: 30 });
    await streamSome(a.camera);
    const refused = (await expectCode(async () => {
      const q = b.camera.queue;
      queueAll(q, 2);
      await q.streamon();
    }, 'ENOSPC')) as UvcError;
    expect(refused.details.holdings).toEqual(expect.arrayContaining([expect.objectContaining({ device: 'A', altSetting: 6, amount: 61 })]));

    await a.camera.queue.streamoff();
    expect(bus.usage.used).toBe(2);
    await streamSome(b.camera);
    await b.camera.close();
    expect(bus.usage.holdings.filter((h) => h.altSetting !== 0)).toEqual([]);

    await streamSome(a.camera);
    a.vcam.unplug();
    expect(bus.usage.holdings.filter((h) => h.device === 'A')).toEqual([]);
  });

  it('answers SET_INTERFACE with ENOSPC at the transport, before the request reaches the device', async () => {
    const bus = new VirtualBus({ speed: 'high' });
    const first = new VirtualCamera(FAST);
    const second = new VirtualCamera(FAST);
    bus.plug(first);
    bus.plug(second);
    const t1 = await openVirtualDevice(first);
    const t2 = await openVirtualDevice(second);
    try {
      await t1.claimInterface(1);
      await t2.claimInterface(1);
      await t1.setAltSetting(1, 6);
      const error = (await expectCode(t2.setAltSetting(1, 5), 'ENOSPC')) as UvcError;
      expect(error.message).toMatch(/not enough periodic bandwidth on virtual bus \d+ \(high speed\) for interface 1 alt setting 5 of \d+-2: it needs 41 µs per microframe/);
      expect(second.streaming).toBe(false);
      await t2.setAltSetting(1, 4); // 21 µs: fits beside 61 µs
      expect(second.streaming).toBe(true);
      // Switching an interface replaces its booking rather than adding to it.
      await t1.setAltSetting(1, 5);
      await t2.setAltSetting(1, 5);
      expect(bus.usage.used).toBe(41 + 41 + 2);
      await t1.releaseInterface(1);
      expect(bus.usage.used).toBe(41 + 2);
    } finally {
      await t1.close();
      await t2.close();
    }
    expect(bus.usage.used).toBe(2);
    bus.remove(first);
    bus.remove(second);
    expect(bus.usage.used).toBe(0);
  });

  it('SuperSpeed and full-speed buses book by their own arithmetic', async () => {
    const superBus = new VirtualBus({ speed: 'super' });
    const s1 = new VirtualCamera({ ...FAST, speed: 'super' });
    const s2 = new VirtualCamera({ ...FAST, speed: 'super' });
    superBus.plug(s1);
    superBus.plug(s2);
    const t1 = await openVirtualDevice(s1);
    const t2 = await openVirtualDevice(s2);
    const fullBus = new VirtualBus({ speed: 'full' });
    const f1 = new VirtualCamera({ ...FAST, speed: 'full' });
    const f2 = new VirtualCamera({ ...FAST, speed: 'full' });
    fullBus.plug(f1);
    fullBus.plug(f2);
    const t3 = await openVirtualDevice(f1);
    const t4 = await openVirtualDevice(f2);
    try {
      for (const t of [t1, t2, t3, t4]) await t.claimInterface(1);
      await t1.setAltSetting(1, 7); // 1024 × 16 × 3: 3488 blocks of 3515
      await expectCode(t2.setAltSetting(1, 1), 'ENOSPC'); // 104 more blocks do not fit
      await t1.setAltSetting(1, 6); // 2336
      await expectCode(t2.setAltSetting(1, 5), 'ENOSPC'); // + 1184 + 2 status blocks = 3522 > 3515
      await t2.setAltSetting(1, 4); // 608
      expect(superBus.usage.used).toBe(2336 + 608 + 2);
      await t3.setAltSetting(1, 5); // 1023 bytes: 807 µs of 900
      await expectCode(t4.setAltSetting(1, 1), 'ENOSPC'); // 128 bytes: 109 µs more
      await t3.setAltSetting(1, 3); // 512: 408 µs
      await t4.setAltSetting(1, 3);
      expect(fullBus.usage.used).toBe(408 + 408 + 23);
    } catch (error) {
      if (isUvcError(error)) throw new Error(`${error.message} ${JSON.stringify(superBus.usage)}`);
      throw error;
    } finally {
      for (const t of [t1, t2, t3, t4]) await t.close();
    }
  });
});

describe('planBandwidth', () => {
  it('says which wished modes fit together and what to lower, and streaming then does just that', async () => {
    const bus = new VirtualBus();
    const a = await plugged(bus, 'A');
    const b = await plugged(bus, 'B');
    const c = await plugged(bus, 'C');
    const wishes = [
      { name: 'A', camera: a.camera, mode: { fourcc: 'YUYV', width: 640, height: 480, fps: 30 } },
      { name: 'B', camera: b.camera, mode: { fourcc: 'YUYV', width: 640, height: 480, fps: 5 } },
      { name: 'C', camera: c.camera, mode: { fourcc: 'YUYV', width: 640, height: 480, fps: 15 } },
    ];
    const before = c.camera.format;
    const plan = await planBandwidth(wishes, { bus });
    expect(plan.fits).toBe(false);
    expect(plan.cameras.map((p) => [p.name, p.wanted.altSetting, p.wanted.amount, p.fitsAlone])).toEqual([
      ['A', 6, 61, true],
      ['B', 3, 11, true],
      ['C', 5, 41, true],
    ]);
    expect(plan.domains).toEqual([expect.objectContaining({ speed: 'high', limit: 100, held: 2, fits: false, cameras: ['A', 'B', 'C'] })]);
    // Alone: A could drop to 15 fps, or C to 5 fps. Together: the dearest (A) is lowered first.
    expect(plan.singleChanges.map((s) => `${s.name} ${s.mode.width}x${s.mode.height}@${s.mode.fps}`)).toEqual(['A 640x480@15', 'C 640x480@5']);
    expect(plan.lowered!.map((s) => `${s.name} ${s.mode.fourcc} ${s.mode.width}x${s.mode.height}@${s.mode.fps} alt ${s.mode.altSetting}`)).toEqual(['A YUY2 640x480@15 alt 5']);
    // Planning probed, but left each camera's format as it was.
    expect(c.camera.format).toEqual(before);

    // Streaming agrees: A and B stream, C is refused and told what the plan said…
    await a.camera.setFormat(wishes[0]!.mode);
    await b.camera.setFormat(wishes[1]!.mode);
    await streamSome(a.camera);
    await streamSome(b.camera);
    await c.camera.setFormat(wishes[2]!.mode);
    const error = (await expectCode(async () => {
      const q = c.camera.queue;
      queueAll(q, 2);
      await q.streamon();
    }, 'ENOSPC')) as UvcError;
    expect(error.details.suggestion).toMatchObject({ width: 640, height: 480, altSetting: plan.singleChanges[1]!.mode.altSetting });
    c.camera.queue.reqbufs(0);

    // …and the lowered plan streams, filling the bus exactly as the plan computed.
    await a.camera.queue.streamoff();
    a.camera.queue.reqbufs(0);
    const lowered = await planBandwidth(
      wishes.map((w) => (w.name === 'A' ? { ...w, mode: { ...w.mode, fps: 15 } } : w)),
      { bus },
    );
    // B streams: it is planned as it is.
    expect(lowered.cameras.map((p) => [p.name, p.streaming])).toEqual([['A', false], ['B', true], ['C', false]]);
    expect(lowered.fits).toBe(true);
    await a.camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480, fps: 15 });
    await streamSome(a.camera);
    await c.camera.setFormat(wishes[2]!.mode);
    await streamSome(c.camera);
    expect(bus.usage.used).toBe(lowered.domains[0]!.used);
    expect(lowered.domains[0]!.used).toBe(41 + 11 + 41 + 2);
  });

  it('without a bus, plans the cameras of one speed as one domain holding their status endpoints', async () => {
    const x = new VirtualCamera(FAST);
    const y = new VirtualCamera(FAST);
    const cx = await openCamera(x);
    const cy = await openCamera(y);
    open.push(cx, cy);
    const plan = await planBandwidth([
      { name: 'x', camera: cx, mode: { fourcc: 'YUYV', width: 640, height: 480, fps: 30 } },
      { name: 'y', camera: cy, mode: { fourcc: 'YUYV', width: 640, height: 480, fps: 30 } },
    ]);
    expect(plan.fits).toBe(false);
    expect(plan.domains[0]).toMatchObject({ held: 2, used: 61 + 61 + 2, fits: false });
    // Lowering one camera to 15 fps is not enough (41 + 61 µs); the dearest-first search lowers both.
    expect(plan.lowered!.map((s) => `${s.name}@${s.mode.fps}`)).toEqual(['x@15', 'y@15']);
    expect(plan.singleChanges.map((s) => `${s.name}@${s.mode.fps}`)).toEqual(['x@5', 'y@5']);
    const ok = await planBandwidth([{ camera: cx, mode: { width: 640, height: 480, fps: 30 } }]);
    expect(ok).toMatchObject({ fits: true, lowered: [], singleChanges: [] });
    expect(ok.cameras[0]!.name).toBe(cx.info.portPath);
  });

  it('refuses a camera that is not on the bus given, and two cameras of one name', async () => {
    const bus = new VirtualBus();
    const { camera } = await plugged(bus, 'A');
    const stray = await openCamera(new VirtualCamera(FAST));
    open.push(stray);
    await expectCode(planBandwidth([{ camera: stray }], { bus }), 'EINVAL');
    await expectCode(planBandwidth([{ name: 'A', camera }, { name: 'A', camera: stray }]), 'EINVAL');
    await expectCode(planBandwidth([]), 'EINVAL');
  });
});
