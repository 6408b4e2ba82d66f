/**
 * Fidelity: Linux's own uvcvideo, which nobody here wrote, takes the VirtualCamera served over USB/IP as it would
 * any webcam, and Linux's own tools judge it. For the iso camera and the bulk camera alike:
 *
 * - uvcvideo binds the video control and streaming interfaces and makes a capture node; `v4l2-ctl` lists the
 *   camera's formats and controls as the device describes them.
 * - `v4l2-ctl --stream-mmap --stream-count=30` captures 640×480 YUYV and MJPEG through uvcvideo: 30 frames each,
 *   every one the right size (YUYV) or a complete JPEG of the right dimensions (MJPEG, decoded by libjpeg-turbo),
 *   and the frame number stamped in every picture increasing from frame to frame.
 * - `v4l2-compliance -s 10` (with its streaming tests) runs, and its own summary line is printed. Pass
 *   criterion: 0 failures, except failures that are exactly one of two known disagreements between Debian 12's
 *   v4l2-compliance 1.22.1 and Linux 6.1's uvcvideo, decided inside uvcvideo without asking the device (see
 *   judgeCompliance): EACCES for setting an inactive control (white_balance_temperature, exposure_time_absolute
 *   while their auto modes are on), and EBUSY for the MMAP tests' STREAMON after REQBUFS(0). For the first the
 *   check then shows the device does set those controls once their auto mode is off. The device must have
 *   refused no request during the run, and a streaming test must pass. Any other failure fails the check.
 *
 * One test of v4l2-compliance is a clock, not a property: "blocking wait" fails unless a STREAMOFF issued while
 * another thread waits in DQBUF has returned within 250 ms. Under TCG on a loaded machine a STREAMOFF that waits
 * for nothing takes longer (uvcvideo kills its URBs one by one, each kill a CMD_UNLINK round trip through the
 * USB/IP server process). That failure alone is accepted only when rig/tools/v4l2-blocking-wait then shows the
 * property itself on the same node, with no time limit but a deadlock guard: DQBUF blocks, STREAMOFF returns
 * while it is blocked, and the DQBUF ends with EINVAL. A STREAMOFF that really waited for the DQBUF never returns
 * there, and the check fails.
 *
 * The streaming tests in select/epoll mode are clocks too: each waits 2 s for the next frame. Their failure at
 * exactly that wait is accepted only when the same tool streams 10 frames in that mode without the clock (every
 * wakeup readable, every DQBUF a whole buffer), logging the longest wait.
 *
 * The cameras run in 'fast' pace (their bus clock advances with the host's requests): a TCG guest cannot keep
 * the real-time pace of a high-speed bus, and uvcvideo would drop the frames it saw data lost from.
 */
import sharp from 'sharp';
import { decodeFrameStamp } from '../../../src/virtual-camera/index.js';
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';
import { captureFrames, listControls, listFormats, runCompliance, setControl, type ComplianceResult, type V4l2Control, writtenSequences } from '../lib/v4l2.js';
import type { StalledRequest } from '../lib/virtual-camera-device.js';
import { interfaceDriver, splitJpegStream, waitForCaptureNode, waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 600_000;

const WIDTH = 640;
const HEIGHT = 480;
const FRAMES = 30;

async function withCamera(ctx: CheckContext, label: string, options: Record<string, unknown>, body: (node: string, served: ServedDevice) => Promise<void>): Promise<void> {
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options, label: `serve-${label}` });
  let port: number | undefined;
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(0x1209, 0x0001);
    await waitForDriver(usb.path, 0, 'uvcvideo');
    await waitForDriver(usb.path, 1, 'uvcvideo');
    const node = await waitForCaptureNode(usb.path);
    ctx.log(`${label}: ${usb.product} at ${usb.speed} Mbps; interface 0 → ${await interfaceDriver(usb.path, 0)}, interface 1 → ${await interfaceDriver(usb.path, 1)}; capture node ${node.path}`);
    await body(node.path, served);
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}

async function formatsAndControls(ctx: CheckContext, label: string, node: string): Promise<V4l2Control[]> {
  const { formats } = await listFormats(node);
  ctx.log(`${label}: formats ${[...formats].map(([fourcc, sizes]) => `${fourcc} ${[...sizes].map(([size, fps]) => `${size}@${fps.map((f) => Number(f)).join('/')}`).join(' ')}`).join('; ')}`);
  for (const fourcc of ['YUYV', 'MJPG']) {
    assert(formats.get(fourcc)?.has(`${WIDTH}x${HEIGHT}`) === true, `${label}: uvcvideo lists no ${fourcc} ${WIDTH}x${HEIGHT}`);
  }
  const controls = await listControls(node);
  ctx.log(`${label}: ${controls.length} controls: ${controls.map((c) => `${c.name}=${c.value}${c.flags.length > 0 ? ` (${c.flags.join(',')})` : ''}`).join(', ')}`);
  for (const name of ['brightness', 'contrast', 'power_line_frequency', 'white_balance_automatic', 'pan_absolute', 'privacy']) {
    assert(controls.some((c) => c.name === name), `${label}: uvcvideo does not expose ${name}`);
  }
  return controls;
}

/** 30 frames of each format through uvcvideo, each judged by its content. */
async function captures(ctx: CheckContext, label: string, node: string): Promise<void> {
  for (const fourcc of ['YUYV', 'MJPG'] as const) {
    const cap = await captureFrames(node, { fourcc, width: WIDTH, height: HEIGHT, count: FRAMES, timeoutMs: 180_000 });
    const stamps: (number | null)[] = [];
    if (fourcc === 'YUYV') {
      const size = WIDTH * HEIGHT * 2;
      assertEqual(cap.data.length, FRAMES * size, `${label}: YUYV bytes captured (${FRAMES} frames of ${size})`);
      for (let at = 0; at < cap.data.length; at += size) {
        stamps.push(decodeFrameStamp({ data: cap.data.subarray(at, at + size), width: WIDTH, height: HEIGHT, format: 'yuyv' }));
      }
    } else {
      const images = splitJpegStream(cap.data);
      assertEqual(images.length, FRAMES, `${label}: complete JPEG images captured`);
      for (const image of images) {
        const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
        assert(info.width === WIDTH && info.height === HEIGHT, `${label}: a JPEG of ${info.width}x${info.height}`);
        stamps.push(decodeFrameStamp({ data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, format: info.channels === 3 ? 'rgb' : 'rgba' }));
      }
    }
    ctx.log(`${label}: ${fourcc} ${FRAMES} frames, ${cap.data.length} bytes in ${cap.seconds.toFixed(1)} s; stamps ${stamps.join(' ')}`);
    assert(stamps.every((s) => s !== null), `${label}: ${fourcc} frames without a readable stamp`);
    // The camera's order is judged in uvcvideo's own frame order, its buffer sequence numbers. uvcvideo may hand
    // buffers out in another order: it copies each URB's payloads on an unbound workqueue (several at once, WQ_UNBOUND)
    // and a buffer is done when its last copy is, so under load a frame can complete before the one before it.
    const sequences = writtenSequences(cap.log);
    const order = sequences.length === stamps.length ? stamps.map((_, i) => i).sort((a, b) => sequences[a]! - sequences[b]!) : stamps.map((_, i) => i);
    if (sequences.length !== stamps.length) ctx.log(`${label}: ${fourcc}: ${sequences.length} dqbuf lines for ${stamps.length} frames; judged in DQBUF order`);
    else if (order.some((k, i) => k !== i)) ctx.log(`${label}: ${fourcc}: uvcvideo dequeued out of its sequence order (seq ${sequences.join(' ')}); judged by sequence`);
    for (let i = 1; i < order.length; i++) {
      const [a, b] = [stamps[order[i - 1]!]!, stamps[order[i]!]!];
      assert(b > a, `${label}: ${fourcc} stamp ${b} after ${a} in uvcvideo's sequence order (repeated or out of order)`);
    }
  }
}

/** What a failure of v4l2-compliance 1.22.1 on uvcvideo is, when it is not our device's doing. */
type KnownFailure = 'inactive-control' | 'streamon-without-buffers' | 'blocking-wait-timing' | 'frame-wait-timing';

/**
 * Every failure must be one of the two known disagreements between v4l2-compliance 1.22.1 and Linux 6.1's
 * uvcvideo, both decided inside uvcvideo without a request to the device:
 * - 'inactive-control': S_CTRL / S_EXT_CTRLS of a control whose auto mode is on gets EACCES (uvcvideo will not
 *   set an inactive control; v4l2-compliance 1.22.1 counts EACCES as a failure; the v4l-utils change
 *   "v4l2-compliance: Let uvcvideo return -EACCES" accepts it). Recognised by the test, the error 13, and the control being one the driver flags inactive.
 * - 'streamon-without-buffers': the MMAP tests' STREAMON right after REQBUFS(0) gets EBUSY, not the EINVAL
 *   v4l2-compliance expects (uvcvideo checks that the file handle owns the stream before videobuf2 can say that
 *   there are no buffers; REQBUFS(0) gave that ownership up). Recognised by the check at that line and by the
 *   ioctl trace (-T) showing STREAMON failing with EBUSY as often.
 * The device must have refused no request meanwhile. Returns the accepted failures; throws on any other.
 */
function judgeCompliance(label: string, result: ComplianceResult, controls: V4l2Control[], stalls: StalledRequest[]): { kind: KnownFailure; description: string }[] {
  const inactive = new Set(controls.filter((c) => c.flags.includes('inactive')).map((c) => c.name));
  const streamonBusy = result.output.split('\n').filter((l) => /VIDIOC_STREAMON returned -1 \(Device or resource busy\)/.test(l)).length;
  const accepted: { kind: KnownFailure; description: string }[] = [];
  const problems: string[] = [];
  for (const f of result.failures) {
    const description = `${f.test}${f.lastChecked !== undefined ? ` (${f.lastChecked})` : ''}: ${f.reasons.join(' / ')}`;
    const name = f.lastChecked?.toLowerCase().replace(/[^a-z0-9]+/g, '_');
    const controlTest = f.test === 'VIDIOC_G/S_CTRL' || f.test === 'VIDIOC_G/S/TRY_EXT_CTRLS';
    const eacces = f.reasons.length > 0 && f.reasons.every((r) => /s_(ext_)?ctrls? returned an error \(13\)/.test(r));
    const mmap = /^MMAP \(/.test(f.test) && f.reasons.length > 0 && f.reasons.every((r) => /node->streamon\(q\.g_type\(\)\) != EINVAL/.test(r));
    // Exactly the 250 ms look at the STREAMOFF thread, and nothing else in that test.
    const blockingWait =
      f.test === 'blocking wait' &&
      f.reasons.length === 2 &&
      /: !thread_streamoff\.done$/.test(f.reasons[0]!) &&
      /: testBlockingDQBuf\(node, q\)$/.test(f.reasons[1]!);
    // Exactly the 2 s select()/epoll_wait() for the next frame in a streaming test, and nothing else.
    const frameWait =
      /^(USERPTR|MMAP) \((select|epoll)\)$/.test(f.test) &&
      f.reasons.length === 2 &&
      /: ret == 0$/.test(f.reasons[0]!) &&
      /: captureBufs\(node, node_m2m_cap, q, m2m_q, frame_count, pollmode, capture_count\)$/.test(f.reasons[1]!);
    if (controlTest && eacces && name !== undefined && inactive.has(name)) accepted.push({ kind: 'inactive-control', description });
    else if (mmap) accepted.push({ kind: 'streamon-without-buffers', description });
    else if (blockingWait) accepted.push({ kind: 'blocking-wait-timing', description });
    else if (frameWait) accepted.push({ kind: 'frame-wait-timing', description });
    else problems.push(description);
  }
  const mmapFailures = accepted.filter((a) => a.kind === 'streamon-without-buffers').length;
  if (mmapFailures > streamonBusy) problems.push(`${mmapFailures} MMAP failures at STREAMON, but the trace shows STREAMON failing with EBUSY only ${streamonBusy} times`);
  if (result.failures.length !== result.failed) problems.push(`the summary counts ${result.failed} failures, the log shows ${result.failures.length}`);
  if (stalls.length > 0) problems.push(`the device refused ${stalls.length} requests: ${JSON.stringify(stalls)}`);
  if (problems.length > 0) throw new Error(`${label}: v4l2-compliance failures that are not the known uvcvideo/v4l2-compliance 1.22.1 ones:\n  ${problems.join('\n  ')}\n${result.output}`);
  return accepted;
}

/** The device sets the controls uvcvideo refused, once their auto mode is off (so the refusal was the driver's). */
async function inactiveControlsWork(ctx: CheckContext, label: string, node: string, served: ServedDevice): Promise<void> {
  const cases = [
    { auto: 'white_balance_automatic', manual: 0, control: 'white_balance_temperature', model: 'white_balance_temperature', value: 4000 },
    { auto: 'auto_exposure', manual: 1, control: 'exposure_time_absolute', model: 'exposure_time_absolute', value: 300 },
  ];
  for (const c of cases) {
    assertEqual(await setControl(node, c.auto, c.manual), '', `${label}: v4l2-ctl --set-ctrl ${c.auto}=${c.manual}`);
    assertEqual(await setControl(node, c.control, c.value), '', `${label}: v4l2-ctl --set-ctrl ${c.control}=${c.value} with ${c.auto}=${c.manual}`);
    const held = (await served.call('controlValue', [c.model])) as number[];
    assertEqual(held.join(','), String(c.value), `${label}: ${c.control} as the device holds it`);
    ctx.log(`${label}: with ${c.auto}=${c.manual}, ${c.control}=${c.value} is set through uvcvideo and the device holds ${held.join(',')}`);
  }
}

async function compliance(ctx: CheckContext, label: string, node: string, served: ServedDevice, controls: V4l2Control[]): Promise<void> {
  await served.call('clearStalledRequests');
  const t0 = performance.now();
  // -s 10: the streaming tests too (MMAP, USERPTR: 10 frames each); -T: the ioctl trace, to tell errno's apart.
  const result = await runCompliance(node, ['-s', '10', '-T']);
  const stalls = (await served.call('stalledRequests')) as StalledRequest[];
  ctx.log(`${label}: v4l2-compliance -s 10 (${((performance.now() - t0) / 1000).toFixed(1)} s): ${result.summary}`);
  for (const w of result.warningLines) ctx.log(`${label}:   ${w}`);
  const accepted = judgeCompliance(label, result, controls, stalls);
  const why: Record<KnownFailure, string> = {
    'inactive-control': "uvcvideo's EACCES for an inactive control",
    'streamon-without-buffers': "uvcvideo's EBUSY for STREAMON after REQBUFS(0)",
    'blocking-wait-timing': 'the STREAMOFF took longer than the 250 ms v4l2-compliance 1.22.1 looks; the property is checked without a clock below',
    'frame-wait-timing': 'no frame within the 2 s v4l2-compliance 1.22.1 waits in select/epoll; the property is checked without a clock below',
  };
  for (const a of accepted) ctx.log(`${label}:   FAIL ${a.description} — ${why[a.kind]}, decided in the driver (the device refused no request)`);
  const streamed = result.output.split('\n').filter((l) => /test (USERPTR|MMAP)[^:]*: OK/.test(l)).map((l) => l.trim());
  ctx.log(`${label}: ${result.failed === 0 ? '0 failures' : `${result.failed} failures, every one a known uvcvideo/v4l2-compliance 1.22.1 disagreement`}; requests the device refused: ${stalls.length}; streaming tests passed: ${streamed.join(', ') || 'none'}`);
  assert(streamed.length > 0, `${label}: no streaming test of v4l2-compliance passed`);
  if (accepted.some((a) => a.kind === 'inactive-control')) await inactiveControlsWork(ctx, label, node, served);
  // Always: when v4l2-compliance's timed look failed this decides; when it passed, the STREAMOFF times logged
  // show how close to its 250 ms this machine runs.
  await blockingWaitHolds(ctx, label, node);
  for (const a of accepted.filter((x) => x.kind === 'frame-wait-timing')) await frameWaitHolds(ctx, label, node, a.description);
}

/** v4l2-compliance's select/epoll streaming test without its 2 s clock: readable means a frame DQBUF returns. */
async function frameWaitHolds(ctx: CheckContext, label: string, node: string, description: string): Promise<void> {
  const m = /^(USERPTR|MMAP) \((select|epoll)\)/.exec(description)!;
  const args = [node, '--capture', m[2]!, m[1]!.toLowerCase(), '10'];
  const r = await run(`${ctx.toolsDir}/v4l2-blocking-wait`, args, { allowFailure: true, timeoutMs: 600_000 });
  const lines = r.stdout.trim().split('\n');
  for (const l of lines) ctx.log(`${label}:   v4l2-blocking-wait ${args.slice(1).join(' ')}: ${l}`);
  assert(r.code === 0 && lines.at(-1) === 'RESULT ok', `${label}: v4l2-compliance's ${m[0]} timed out and the property does not hold without a clock either: ${lines.at(-1) ?? `exit ${r.code}`}`);
}

/** The property v4l2-compliance's "blocking wait" times, asked without a clock (see the header). */
async function blockingWaitHolds(ctx: CheckContext, label: string, node: string): Promise<void> {
  const r = await run(`${ctx.toolsDir}/v4l2-blocking-wait`, [node, '3'], { allowFailure: true, timeoutMs: 240_000 });
  const lines = r.stdout.trim().split('\n');
  for (const l of lines) ctx.log(`${label}:   v4l2-blocking-wait: ${l}`);
  assert(r.code === 0 && lines.at(-1) === 'RESULT ok', `${label}: v4l2-compliance's blocking wait failed and the property does not hold without a clock either: ${lines.at(-1) ?? `exit ${r.code}`}`);
}

export default async function check(ctx: CheckContext): Promise<void> {
  await withCamera(ctx, 'iso', { pace: 'fast' }, async (node, served) => {
    const controls = await formatsAndControls(ctx, 'iso', node);
    await captures(ctx, 'iso', node);
    await compliance(ctx, 'iso', node, served, controls);
  });
  await withCamera(ctx, 'bulk', { pace: 'fast', transfer: 'bulk' }, async (node, served) => {
    const controls = await formatsAndControls(ctx, 'bulk', node);
    await captures(ctx, 'bulk', node);
    await compliance(ctx, 'bulk', node, served, controls);
  });
}
