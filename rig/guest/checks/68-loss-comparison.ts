/**
 * No loss where uvcvideo loses none (issue 12.6). From one VirtualCamera (iso, 'fast' pace: the device loses
 * nothing, its bus clock waits for the host) served over USB/IP, in one run: 500 YUYV 640x480 frames through
 * Linux's uvcvideo (`v4l2-ctl --stream-mmap`), then 500 through our driver as a user runs it (`uvc-capture
 * capture`, the CLI), each writing to a file in the guest's tmpfs. Each picture carries the camera's frame number; the frame numbers missing between the
 * first and the last delivered frame are each driver's skipped count. Ours must be no worse than uvcvideo's.
 *
 * The evidence for where frames go is logged with the counts: the device's own count of frames sent and
 * dropped (it drops none in 'fast' pace, so every skipped frame was lost on the host), and our CLI's summary:
 * frames flagged as damaged (written off by the default --drop-errored: host-side judgement) versus frames the
 * driver never completed or had no buffer for (`lost`). Then the same 500 frames once more through our driver
 * with a bare consumer (guest/loss-driver.ts: read the stamp, requeue at once, no file) and the driver's own
 * statistics: what the driver loses by itself, apart from what the CLI's writing costs. That run is evidence
 * only; the verdict is the CLI's, as a user runs it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rm } from 'node:fs/promises';
import { assert, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { countStamps, type StampCount } from '../lib/stamp-stream.js';
import { usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';
import { writtenSequences } from '../lib/v4l2.js';
import { waitForCaptureNode, waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 900_000;

const FRAMES = 500;
const BARE_CONSUMER = fileURLToPath(new URL('../loss-driver.js', import.meta.url));
const WIDTH = 640;
const HEIGHT = 480;

interface VideoStats {
  framesSent: number;
  framesDropped: number;
}

function describe(c: StampCount): string {
  const order = c.judgedInFileOrder ? '' : `, ${c.reordered} written out of the driver's sequence order (judged in that order)`;
  return `${c.frames} frames (numbers ${c.first ?? '?'}..${c.last ?? '?'}), skipped ${c.skipped}, unreadable ${c.unreadable}, out of order ${c.backwards}${order}`;
}

/**
 * Runs a capture program writing raw frames to a file in the guest's tmpfs (as fast as memory: the program, not
 * a slow reader, sets the pace), then counts the stamps in it. A FIFO read by this process was tried first: the
 * reader (stamp decoding in JavaScript under TCG) then paced both programs and each skipped ~75 of 500 frames.
 */
async function captureToFile(
  label: string,
  program: string,
  args: (file: string) => string[],
  sequencesOf?: (stderr: string) => number[],
): Promise<{ count: StampCount; stdout: string; stderr: string }> {
  const file = `/tmp/loss-${label}-${process.pid}.yuyv`;
  await rm(file, { force: true });
  try {
    const child = spawn(program, args(file), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert(code === 0, `${label}: ${program} exited ${code}: ${stderr.slice(-2000)}`);
    return { count: await countStamps(file, WIDTH, HEIGHT, { sequences: sequencesOf?.(stderr) }), stdout, stderr };
  } finally {
    await rm(file, { force: true });
  }
}

export default async function check(ctx: CheckContext): Promise<void> {
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options: { pace: 'fast' }, label: 'serve-loss' });
  let port: number | undefined;
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(0x1209, 0x0001);
    await waitForDriver(usb.path, 1, 'uvcvideo');
    const node = (await waitForCaptureNode(usb.path)).path;

    const t0 = performance.now();
    // --verbose: a line per buffer with its V4L2 sequence number (on stderr), so the stamps are judged in
    // uvcvideo's own frame order (see stamp-stream.ts).
    const theirs = await captureToFile(
      'uvcvideo',
      'v4l2-ctl',
      (file) => ['-d', node, `--set-fmt-video=width=${WIDTH},height=${HEIGHT},pixelformat=YUYV`, '--stream-mmap', `--stream-count=${FRAMES}`, `--stream-to=${file}`, '--verbose'],
      (stderr) => writtenSequences(stderr.split('\n')),
    );
    const s1 = (await served.call('videoStats')) as VideoStats;
    // The device's counts are per stream (from its last commit): read after each capture.
    ctx.log(`uvcvideo (v4l2-ctl): ${describe(theirs.count)} in ${((performance.now() - t0) / 1000).toFixed(1)} s; the device's stream: sent ${s1.framesSent}, dropped ${s1.framesDropped}`);

    const cli = `${ctx.projectRoot}/rig/.out/src/cli/main.js`;
    const t1 = performance.now();
    const ours = await captureToFile('uvc-capture', process.execPath, (file) => [
      cli,
      'capture',
      '-c',
      '1209:0001',
      '-f',
      'YUYV',
      '-s',
      `${WIDTH}x${HEIGHT}`,
      '-n',
      String(FRAMES),
      '-o',
      file,
      '--json',
      '--no-progress',
    ]);
    const s2 = (await served.call('videoStats')) as VideoStats;
    const summary = JSON.parse(ours.stdout) as { frames: number; errors: number; lost: number; dropped: number; received: number; fps: number };
    ctx.log(
      `uvc-capture (CLI): ${describe(ours.count)} in ${((performance.now() - t1) / 1000).toFixed(1)} s; the device's stream: sent ${s2.framesSent}, dropped ${s2.framesDropped}; ` +
        `the CLI says: written ${summary.frames}, received ${summary.received}, flagged damaged (not written) ${summary.errors}, lost ${summary.lost}, dropped ${summary.dropped}`,
    );
    const bare = await run(process.execPath, [BARE_CONSUMER, String(FRAMES), '8'], { allowFailure: true, timeoutMs: 900_000 });
    ctx.log(`our driver, bare consumer (8 buffers, stamp read and buffer requeued at once): ${bare.stdout.trim().split('\n').at(-1) ?? ''}${bare.code === 0 ? '' : ` (exit ${bare.code}: ${bare.stderr.slice(-500)})`}`);
    ctx.log(`skipped frame numbers: uvcvideo ${theirs.count.skipped}, uvc-capture ${ours.count.skipped}`);
    assert(theirs.count.frames === FRAMES && theirs.count.unreadable === 0 && theirs.count.backwards === 0, `uvcvideo: ${describe(theirs.count)}`);
    assert(ours.count.frames === FRAMES && ours.count.unreadable === 0 && ours.count.backwards === 0, `uvc-capture: ${describe(ours.count)}`);
    assert(
      ours.count.skipped <= theirs.count.skipped,
      `uvc-capture skipped ${ours.count.skipped} frame numbers in ${FRAMES} frames where uvcvideo skipped ${theirs.count.skipped} ` +
        `(the CLI: ${summary.errors} flagged damaged and not written, ${summary.lost} lost; the device dropped ${s2.framesDropped})`,
    );
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}
