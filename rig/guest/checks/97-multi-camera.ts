/**
 * Two cameras at once through the real stack (issue 17): one USB/IP server exports two VirtualCameras (busids 1-1
 * and 1-2, one process, as one usbipd exports several devices), `usbip attach` plugs both into vhci_hcd, uvcvideo
 * binds both, listCameras() lists two, and our driver opens both through the native addon and streams them at the
 * same time: one iso (YUYV 640×480), one bulk (YUYV 320×240), 100 frames each, every frame judged by its size and
 * the stamp in its pixels (a frame of the other camera has the other size). Closing both gives them back to uvcvideo.
 *
 * The server runs in a child process (this same file, run with --serve-pair), never in the process whose libusb
 * calls wait on it. vhci_hcd books no periodic bandwidth, so this proves the data paths, not the budget (that is
 * the in-process VirtualBus's, tested in test/camera/virtual-bus.test.ts).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { listCameras, openCamera, type Camera } from '../../../src/camera/index.js';
import { startUsbipServer } from '../../../src/usbip/server.js';
import { VirtualCamera, type VirtualCameraOptions } from '../../../src/virtual-camera/index.js';
import { CAMERA_PID, CAMERA_VID, describeVerdict, streamYuyv, type StreamVerdict } from '../lib/camera-helpers.js';
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { waitFor } from '../lib/exec.js';
import { findUsbDevices, usbipAttach, usbipDetach, usbipList } from '../lib/usb-host.js';
import { interfaceDriver, waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 600_000;

const SERVE_FLAG = '--serve-pair';
const FRAMES = 100;

interface Served {
  busid: string;
  serial: string;
  transfer: 'iso' | 'bulk';
  width: number;
  height: number;
}

const PAIR: readonly Served[] = [
  { busid: '1-1', serial: 'MULTI-ISO', transfer: 'iso', width: 640, height: 480 },
  { busid: '1-2', serial: 'MULTI-BULK', transfer: 'bulk', width: 320, height: 240 },
];

/** The child: one USB/IP server exporting both cameras; stats on request, gone when stdin closes. */
async function servePair(): Promise<void> {
  const models = PAIR.map((p) => {
    const options: VirtualCameraOptions = {
      pace: 'fast',
      transfer: p.transfer,
      serial: p.serial,
      formats: [{ format: 'yuyv', frames: [{ width: p.width, height: p.height, fps: [30, 15] }] }],
    };
    return new VirtualCamera(options);
  });
  const server = await startUsbipServer({ devices: PAIR.map((p, i) => ({ busid: p.busid, model: models[i]! })), port: 3240 });
  const say = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
  server.on('attach', (e) => say({ event: 'attach', busid: e.busid }));
  server.on('detach', (e) => say({ event: 'detach', busid: e.busid, reason: e.reason }));
  say({ event: 'listening', port: server.port });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === 'stats') say({ event: 'stats', framesSent: models.map((m) => m.framesSent) });
  }
  await server.close();
  process.exit(0);
}

if (process.argv[2] === SERVE_FLAG) {
  servePair().catch((error: unknown) => {
    process.stdout.write(`${JSON.stringify({ event: 'error', error: String(error) })}\n`);
    process.exit(1);
  });
}

export default async function check(ctx: CheckContext): Promise<void> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), SERVE_FLAG], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      console.log(`[serve-pair] ${line}`);
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => console.log(`[serve-pair:stderr] ${line}`));
  const ports: number[] = [];
  const cameras: Camera[] = [];
  try {
    await waitFor('the USB/IP server of both cameras', () => (events.some((e) => e.event === 'listening' || e.event === 'error') ? true : undefined), 60_000);
    assert(!events.some((e) => e.event === 'error'), `the server failed: ${JSON.stringify(events)}`);
    const list = await usbipList();
    for (const p of PAIR) assert(list.includes(`${p.busid}:`), `usbip list does not show ${p.busid}:\n${list}`);
    ctx.log(`one server exports both: usbip list shows ${PAIR.map((p) => p.busid).join(' and ')}`);

    for (const p of PAIR) ports.push(await usbipAttach(p.busid));
    const devices = await waitFor('both cameras enumerated', async () => {
      const found = await findUsbDevices(CAMERA_VID, CAMERA_PID);
      return found.length >= 2 ? found : undefined;
    });
    for (const usb of devices) await waitForDriver(usb.path, 1, 'uvcvideo');
    ctx.log(`vhci ports ${ports.join(', ')}; the kernel enumerated ${devices.map((d) => d.path).join(', ')}, uvcvideo bound to both`);

    const infos = await waitFor('listCameras() to list both', async () => {
      const all = (await listCameras()).filter((c) => c.vendorId === CAMERA_VID && c.productId === CAMERA_PID);
      return all.length >= 2 ? all : undefined;
    });
    for (const p of PAIR) {
      const info = infos.find((c) => c.serial === p.serial);
      assert(info !== undefined, `listCameras() has no camera with serial ${p.serial}: ${JSON.stringify(infos.map((c) => c.serial))}`);
      const camera = await openCamera(info);
      cameras.push(camera);
      assertEqual(camera.info.transport, 'native', `${p.serial}: transport`);
      const format = await camera.setFormat({ fourcc: 'YUYV', width: p.width, height: p.height, fps: 30 });
      assertEqual(format.transfer, p.transfer, `${p.serial}: transfer type`);
      ctx.log(`${p.serial}: opened at ${info.portPath} through the addon, ${format.fourcc} ${format.width}x${format.height} over ${format.transfer}${format.transfer === 'iso' ? ` (alt ${format.altSetting})` : ''}`);
    }

    // Both at once, each into its own queue.
    const verdicts: StreamVerdict[] = await Promise.all(cameras.map((camera, i) => streamYuyv(camera, { width: PAIR[i]!.width, height: PAIR[i]!.height, count: FRAMES })));
    child.stdin.write('stats\n');
    const stats = await waitFor('the server stats', () => events.find((e) => e.event === 'stats'), 30_000);
    for (const [i, v] of verdicts.entries()) {
      const p = PAIR[i]!;
      ctx.log(`${p.serial}: ${describeVerdict(v)}; device sent ${(stats.framesSent as number[])[i]} frames`);
      assertEqual(v.wrong.length, 0, `${p.serial}: frames not flagged but wrong, or another camera's (${v.wrong.slice(0, 5).join('; ')})`);
      assertEqual(v.good + v.flagged, FRAMES, `${p.serial}: good + flagged frames`);
      // As in driver-over-kernel: under TCG the guest may hold every transfer long enough that the driver counts
      // lost bus time and flags the frame it cut; most frames must be whole.
      const assembly = v.stats?.assembly;
      const lost = (assembly?.lostIntervals ?? 0) + (assembly?.lostPackets ?? 0);
      if (v.flagged > 0) assert(lost > 0, `${p.serial}: ${v.flagged} frames flagged although the driver lost no bus time`);
      assert(v.good >= Math.ceil((FRAMES * 2) / 3), `${p.serial}: only ${v.good} of ${FRAMES} frames good`);
      // The guest is x86: both streams' buffers in use are usbfs memory at once. Only those that circulate are
      // (in flight, and twice what a wake holds): mapping every spare too took 8.25 MiB for the iso stream and 12.5 MiB
      // for the bulk one, more than usbfs_memory_mb's 16 MiB together, and the second camera copied.
      const transfers = v.stats?.transfers;
      ctx.log(`${p.serial}: ${transfers?.zeroCopyTransfers} transfer buffers in usbfs memory; ${transfers?.copiedTransfers} of ${transfers?.completed} transfers copied by usbfs`);
      assertEqual(transfers?.zeroCopy, true, `${p.serial}: stats.transfers.zeroCopy`);
    }
    // The two streams overlapped in time (both ran concurrently, not one after the other).
    const [a, b] = verdicts as [StreamVerdict, StreamVerdict];
    ctx.log(`streams ran ${a.seconds.toFixed(1)} s and ${b.seconds.toFixed(1)} s side by side`);

    for (const camera of cameras.splice(0)) await camera.close();
    for (const usb of devices) {
      await waitForDriver(usb.path, 1, 'uvcvideo', 30_000);
      ctx.log(`${usb.path}: closed; interface 1 back with ${await interfaceDriver(usb.path, 1)}`);
    }
  } finally {
    for (const camera of cameras) await camera.close().catch(() => undefined);
    for (const port of ports) await usbipDetach(port).catch(() => undefined);
    child.stdin.end();
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(undefined);
      }, 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  }
}
