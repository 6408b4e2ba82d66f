/**
 * 5. The native path: the addon and libusb need a real UVC device. With one attached (and openable), the
 * end-to-end measurement runs through it: the camera's default mode, paced by the camera itself, frames/s and
 * CPU per frame (user + system, the libusb event thread included), every frame checked for size and flags.
 * Without one, the result says so ('not measured: no device') rather than inventing a figure.
 *
 * Assembly (1) is transport-agnostic JavaScript: the addon hands over the same CompletedTransfer shape the
 * synthetic stream imitates, so section 1 stands for it. The kernel rig (QEMU under emulation, the virtual
 * camera over USB/IP) does exercise the addon and libusb, but its timings are those of an emulated machine and
 * a network hop: functional evidence only, never a performance figure, so this benchmark does not run it.
 */
import { listCameras, openCamera, type CameraInfo } from '../src/camera/index.js';
import { nativeAddonLocation } from '../src/transport/native/load-addon.js';
import { cpuSince, cpuStart, progress, round } from './lib/measure.js';

export const KERNEL_RIG_NOTE =
  'The kernel rig (npm run test:kernel: QEMU under emulation, the virtual camera over USB/IP) runs the addon and ' +
  'libusb for real but gives functional results only; its timings are not quoted as performance.';

export interface NativeResult {
  measured: boolean;
  /** 'measured' or why not. */
  status: string;
  addon: { loaded: boolean; source?: string; error?: string };
  camerasFound: number;
  kernelRig: string;
  camera?: { product?: string; vendorId: string; productId: string; speed: string; format: string };
  endToEnd?: { framesPerSecond: number; cpuPerFrameUs: number; coreShareAtThisRate: number; frames: number; erroredFrames: number; framesDropped: number };
}

const MEASURE_MS = 5000;

export async function benchNative(): Promise<NativeResult> {
  const result: NativeResult = { measured: false, status: 'not measured: no device', addon: { loaded: false }, camerasFound: 0, kernelRig: KERNEL_RIG_NOTE };
  try {
    result.addon = { loaded: true, source: nativeAddonLocation().source };
  } catch (error) {
    result.addon = { loaded: false, error: error instanceof Error ? error.message : String(error) };
    result.status = 'not measured: the native addon is not available';
    return result;
  }
  let cameras: CameraInfo[] = [];
  try {
    cameras = await listCameras();
  } catch {
    cameras = [];
  }
  result.camerasFound = cameras.length;
  const usable = cameras.find((c) => c.access === 'ok' || c.access === 'unknown');
  if (usable === undefined) {
    result.status = cameras.length === 0 ? 'not measured: no device' : `not measured: no camera this process may open (${cameras[0]!.problem ?? cameras[0]!.access})`;
    progress(`native: ${result.status}`);
    return result;
  }

  progress(`native: measuring ${usable.product ?? usable.id} for ${MEASURE_MS / 1000} s at its default format`);
  const camera = await openCamera(usable);
  try {
    const format = camera.format;
    if (format === null) throw new Error('the camera negotiated no default format');
    const queue = camera.queue;
    const count = queue.reqbufs(4);
    for (let i = 0; i < count; i++) queue.qbuf(i);
    await queue.streamon();
    // Warm-up: the first frames (exposure settling, the clock locking) are not timed.
    for (let i = 0; i < 10; i++) queue.qbuf((await queue.dqbuf({ timeoutMs: 5000 })).index);
    const before = { ...camera.stats.assembly! };
    const start = cpuStart();
    let frames = 0;
    let errored = 0;
    let bytes = 0;
    while (cpuSince(start).wallMs < MEASURE_MS) {
      const buffer = await queue.dqbuf({ timeoutMs: 5000 });
      if (buffer.flags.error) errored++;
      else if (format.kind === 'uncompressed' && buffer.bytesused !== format.frameSize) throw new Error(`a frame of ${buffer.bytesused} bytes, expected ${format.frameSize}`);
      bytes += buffer.bytesused;
      frames++;
      queue.qbuf(buffer.index);
    }
    const used = cpuSince(start);
    const after = camera.stats.assembly!;
    await queue.streamoff();
    result.measured = true;
    result.status = 'measured';
    result.camera = {
      ...(camera.info.product !== undefined ? { product: camera.info.product } : {}),
      vendorId: camera.info.vendorId.toString(16).padStart(4, '0'),
      productId: camera.info.productId.toString(16).padStart(4, '0'),
      speed: camera.info.speed,
      format: `${format.fourcc} ${format.width}×${format.height} @ ${format.fps} fps, ${format.transfer}`,
    };
    result.endToEnd = {
      framesPerSecond: round((frames / used.wallMs) * 1000),
      cpuPerFrameUs: round((used.cpuMs * 1000) / frames),
      coreShareAtThisRate: round(used.cpuMs / used.wallMs, 3),
      frames,
      erroredFrames: errored,
      framesDropped: after.droppedFrames - before.droppedFrames,
    };
    progress(`  ${result.endToEnd.framesPerSecond} frames/s, ${result.endToEnd.cpuPerFrameUs} µs CPU/frame (${bytes} bytes)`);
  } finally {
    await camera.close();
  }
  return result;
}
