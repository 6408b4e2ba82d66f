/**
 * Payload-stream fuzzing through the native path (issue 19.3): a camera whose video endpoint sends random
 * payloads (rig/guest/lib/payload-fuzz-camera.ts: random packet lengths, header lengths, header bits, PTS/SCR,
 * packet status, bulk transfer lengths; seeded) is served over USB/IP; our driver streams from it through the
 * kernel (usbfs, vhci_hcd) and the native addon built with AddressSanitizer and UndefinedBehaviorSanitizer
 * (build/asan, made by `native/scripts/asan-test.sh --build-only` on the host: rig/run.sh does it when this check
 * runs). YUYV and MJPEG, iso and bulk, 20 s each. Passes when the driver process ends normally and the
 * sanitizers reported nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { assert, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { ServedDevice } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';
import { waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 600_000;

const FUZZ_CAMERA_MODULE = fileURLToPath(new URL('../lib/payload-fuzz-camera.js', import.meta.url));
const DRIVER = fileURLToPath(new URL('../payload-fuzz-driver.js', import.meta.url));
const SECONDS = 20;

async function drive(ctx: CheckContext, label: string, fourcc: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(process.execPath, [DRIVER, String(SECONDS), fourcc], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const last = out.trim().split('\n').at(-1) ?? '';
  ctx.log(`${label} ${fourcc}: exit ${code}: ${last.slice(0, 1500)}`);
  assert(code === 0, `${label} ${fourcc}: the driver process ended ${code}:\n${out.slice(-4000)}`);
  return last;
}

export default async function check(ctx: CheckContext): Promise<void> {
  const addon = `${ctx.projectRoot}/build/asan/build/Release/uvc_capture.node`;
  assert(existsSync(addon), `no ASan build of the addon at ${addon} (rig/run.sh builds it when this check is selected)`);
  const libasan = (await run('gcc', ['-print-file-name=libasan.so'])).stdout.trim();
  const logs = `/tmp/payload-fuzz-asan-${process.pid}`;
  await rm(logs, { recursive: true, force: true });
  await mkdir(logs, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UVC_CAPTURE_ADDON: addon,
    LD_PRELOAD: libasan,
    ASAN_OPTIONS: `detect_leaks=0:log_path=${logs}/asan:halt_on_error=1:detect_odr_violation=0:allocator_may_return_null=1`,
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
  };
  let seed = 0x1f022;
  for (const transfer of ['iso', 'bulk'] as const) {
    const served = await ServedDevice.start({ model: FUZZ_CAMERA_MODULE, options: { pace: 'fast', transfer, fuzzSeed: seed++ }, label: `serve-fuzz-${transfer}` });
    let port: number | undefined;
    try {
      port = await usbipAttach('1-1');
      const usb = await waitForUsbDevice(0x1209, 0x0001);
      await waitForDriver(usb.path, 1, 'uvcvideo');
      for (const fourcc of ['YUYV', 'MJPG']) await drive(ctx, transfer, fourcc, env);
      ctx.log(`${transfer}: the camera scrambled ${JSON.stringify(await served.call('fuzzStats'))}`);
    } finally {
      if (port !== undefined) await usbipDetach(port).catch(() => undefined);
      await served.stop();
    }
  }
  const reports: string[] = [];
  for (const f of await readdir(logs)) {
    const text = await readFile(`${logs}/${f}`, 'utf8');
    if (/ERROR: AddressSanitizer|runtime error:/.test(text)) reports.push(`${f}:\n${text.slice(0, 3000)}`);
  }
  assert(reports.length === 0, `the sanitizers reported:\n${reports.join('\n')}`);
  ctx.log(`no sanitizer report (ASan + UBSan, addon ${addon})`);
}
