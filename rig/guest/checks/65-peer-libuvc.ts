/**
 * A peer userspace driver judges the virtual camera (issue 12.5): Debian's libuvc, in C over libusb
 * (rig/tools/uvc-peer), negotiates every mode the default camera offers (each format, each frame size, at its
 * default interval) with its own probe/commit and streams each until it has 3 whole frames (an uncompressed
 * frame of exactly its size, one whole JPEG: SOI, segments, one scan, EOI, that libjpeg decodes without a warning), over
 * iso and over bulk. Those must carry the camera's frame stamp, increasing frame to frame. A mode libuvc refuses, or
 * streams short of 3 whole frames in uvc-peer's 150 s a mode, fails.
 *
 * Bad frames on the way are judged against the camera's ground truth (issue 20). libuvc submits ~100 transfers
 * at once, each with a 5000 ms libusb timeout (src/stream.c, uvc_stream_start; 0x1388 in Debian's libuvc.so.0.0.6),
 * and on LIBUSB_TRANSFER_TIMED_OUT drops the data and resubmits: a frame cut that way is delivered, unflagged (it
 * has no damage flag). At 'fast' pace the camera fills a request as fast as it renders, and on a loaded TCG guest a
 * 1080p MJPEG render takes seconds: a request holding a frame's tail while the next frame renders outlives the 5 s,
 * the host unlinks it, and its data is lost. The camera records that ('host-cancelled') when the unlink finds the
 * request still pending; when its reply was already on the way, the data reaches the guest but libusb reports the
 * transfer timed out all the same and libuvc drops it, which uvc-peer sees (its libusb_submit_transfer watch:
 * `dropped`). So in each mode libuvc may deliver at most as many bad frames as the camera says the host cut before
 * libuvc's last good frame plus the frames uvc-peer saw dropped that way (frames cut by the stop at the end of a mode
 * come after it and explain nothing). More bad frames than that fail: the camera's fault, or an unexplained loss.
 * The evidence is logged either way.
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import sharp from 'sharp';
import { decodeFrameStamp } from '../../../src/virtual-camera/index.js';
import { assert, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import type { DamagedFrame } from '../lib/virtual-camera-device.js';
import { usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';
import { splitJpegStream, waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 600_000;

const FRAMES = 3;
/**
 * uvc-peer's limit a mode. A guard, not a margin: a mode normally has its frames in 1-6 s, but with a busy loop per
 * core libuvc's own 5 s transfer timeouts cut most 1080p frames, and 60 s once gave only 2 whole ones.
 */
const MODE_LIMIT_S = 150;

/** The stamps of the frames uvc-peer saved for one mode (DIR/<FOURCC>-<W>x<H>.raw). */
async function stampsOf(file: string): Promise<(number | null)[]> {
  const m = /(YUYV|MJPG)-(\d+)x(\d+)\.raw$/.exec(file);
  if (!m) return [];
  const [, fourcc, w, h] = m;
  const width = Number(w);
  const height = Number(h);
  const data = await readFile(file);
  const stamps: (number | null)[] = [];
  if (fourcc === 'YUYV') {
    const size = width * height * 2;
    for (let at = 0; at + size <= data.length; at += size) {
      stamps.push(decodeFrameStamp({ data: data.subarray(at, at + size), width, height, format: 'yuyv' }));
    }
  } else {
    for (const image of splitJpegStream(data)) {
      const { data: pixels, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
      if (info.width !== width || info.height !== height) stamps.push(null);
      else stamps.push(decodeFrameStamp({ data: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length), width, height, format: info.channels === 3 ? 'rgb' : 'rgba' }));
    }
  }
  return stamps;
}

async function judge(ctx: CheckContext, label: string, options: Record<string, unknown>): Promise<string[]> {
  const problems: string[] = [];
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options, label: `serve-${label}` });
  let port: number | undefined;
  const out = `/tmp/uvc-peer-${label}-${process.pid}`;
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(0x1209, 0x0001);
    await waitForDriver(usb.path, 1, 'uvcvideo');
    await rm(out, { recursive: true, force: true });
    await mkdir(out, { recursive: true });
    const r = await run(`${ctx.toolsDir}/uvc-peer`, ['--frames', String(FRAMES), '--timeout', String(MODE_LIMIT_S), '--out', out], { allowFailure: true, timeoutMs: 1_200_000 });
    const lines = r.stdout.trim().split('\n');
    for (const l of lines) ctx.log(`${label}: ${l}`);
    if (r.stderr.trim() !== '') ctx.log(`${label}: stderr: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
    if (lines.at(-1) !== 'RESULT ok') problems.push(`${label}: libuvc: ${lines.at(-1) ?? `exit ${r.code}`}`);

    // Every mode: FRAMES whole frames, stamped, stamps increasing.
    const goodStamps = new Map<string, (number | null)[]>();
    for (const file of (await readdir(out)).sort()) {
      const stamps = await stampsOf(`${out}/${file}`).catch((e: Error) => {
        problems.push(`${label}: ${file}: not a sequence of whole frames: ${e.message}`);
        return [];
      });
      goodStamps.set(file.replace(/\.raw$/, ''), stamps);
      ctx.log(`${label}: ${file}: stamps ${stamps.join(' ')}`);
      if (stamps.length !== FRAMES) problems.push(`${label}: ${file}: ${stamps.length} whole frames saved, not ${FRAMES}`);
      if (stamps.some((s) => s === null)) problems.push(`${label}: ${file}: a frame without a readable stamp`);
      for (let i = 1; i < stamps.length; i++) {
        if (stamps[i] !== null && stamps[i - 1] !== null && stamps[i]! <= stamps[i - 1]!) problems.push(`${label}: ${file}: stamp ${stamps[i]} after ${stamps[i - 1]}`);
      }
    }

    // libuvc's bad frames against the camera's record of what the host cut. Each mode libuvc streamed is one stream
    // of the camera, in order (a new camera per transfer kind). A bad frame came before the mode's last good one, so
    // only frames cut before that frame can explain it: the stop at the end of a mode cancels every transfer still
    // queued, while the camera goes on filling the others, and cuts frames after it.
    const streamed = lines.flatMap((l) => {
      const m = /^mode=(\S+) (\d+)x(\d+)@\d+ negotiate=ok payload=\d+ frames=\d+ good=\d+ bad=(\d+) timeouts=(\d+) dropped=(\d+)/.exec(l);
      return m ? [{ mode: `${m[1]}-${m[2]}x${m[3]}`, bad: Number(m[4]), timeouts: Number(m[5]), dropped: Number(m[6]) }] : [];
    });
    const damaged = (await served.call('damagedFrames')) as DamagedFrame[];
    const streams = (await served.call('streamsBegun')) as number;
    const session = ((await served.stats()).session ?? {}) as Record<string, unknown>;
    ctx.log(`${label}: USB/IP unlinks: of pending URBs ${String(session.unlinkedPending)}, of answered ones ${String(session.unlinkedCompleted)}`);
    const show = (list: DamagedFrame[]) => (list.length === 0 ? 'none' : list.map((d) => `${d.stream}/${d.sequence} [${d.faults.join(',')}]`).join(' '));
    ctx.log(`${label}: the camera's damaged frames (stream/sequence [faults]), ${streams} streams: ${show(damaged)}`);
    if (streams !== streamed.length && streamed.some((m) => m.bad > 0)) {
      problems.push(`${label}: the camera began ${streams} streams for ${streamed.length} modes: libuvc's bad frames cannot be matched to its record`);
    }
    let bad = 0;
    let explained = 0;
    streamed.forEach(({ mode, bad: modeBad, timeouts, dropped }, stream) => {
      const last = Math.max(-1, ...(goodStamps.get(mode) ?? []).map((s) => s ?? -1));
      const cut = damaged.filter((d) => d.stream === stream && d.sequence < last && d.faults.includes('host-cancelled'));
      const known = cut.length + dropped;
      bad += modeBad;
      explained += Math.min(modeBad, known);
      if (modeBad > 0 || cut.length > 0 || timeouts > 0) {
        ctx.log(
          `${label}: ${mode} (stream ${stream}): libuvc delivered ${modeBad} bad frame(s) before frame ${last}; the camera records ${cut.length} cut ` +
            `by the host before it (${show(cut)}); libusb timed out ${timeouts} transfer(s), with data of ${dropped} frame(s) in them that libuvc dropped`,
        );
      }
      if (modeBad > known) {
        problems.push(`${label}: ${mode}: libuvc delivered ${modeBad} bad frame(s); the host's cancellations account for ${known} (camera ${cut.length}, libusb ${dropped}): ${modeBad - known} unexplained`);
      }
    });
    ctx.log(`${label}: libuvc's bad frames: ${bad}, explained by the host's cancellation: ${explained}`);
  } finally {
    await rm(out, { recursive: true, force: true });
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
  return problems;
}

export default async function check(ctx: CheckContext): Promise<void> {
  const problems = [...(await judge(ctx, 'iso', { pace: 'fast' })), ...(await judge(ctx, 'bulk', { pace: 'fast', transfer: 'bulk' }))];
  assert(problems.length === 0, `libuvc does not take the virtual camera as a webcam:\n  ${problems.join('\n  ')}`);
}
