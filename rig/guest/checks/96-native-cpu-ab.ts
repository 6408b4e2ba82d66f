/**
 * native-cpu's question for builds compared with each other: CPU per frame of our driver as a ratio to the bare C
 * reader, for this tree and for each other build placed in rig/.ab/<name>/ (a package root: dist/, prebuilds/,
 * package.json, node_modules; e.g. main's, built elsewhere and copied in), interleaved in one boot. native-cpu runs
 * its consumers one after the other, so the host's load between them moves a round's ratio by 2x and more (issue
 * 15.3's rounds spread from 0.94 to 6.48); here each build runs in a process of its own (rig/guest/ab-cpu-driver.ts,
 * the same loop as native-cpu's `ours`), the reader runs before and after every group, and the order reverses every
 * round, so that a drifting load falls on all alike. This tree's addon alone also runs woken per frame and per
 * transfer (rig/guest/ab-addon-driver.ts). Prints each round and the medians; fails only if a run fails. Without
 * builds in rig/.ab/ it does nothing (one line says so): a full rig run pays for it only when asked.
 */
import { spawn } from 'node:child_process';
import { CAMERA_PID, CAMERA_VID } from '../lib/camera-helpers.js';
import { assert, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { cameraServerPid, ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';
import { waitForDriver } from '../lib/video-device.js';
import { existsSync, readdirSync } from 'node:fs';

export const timeoutMs = 2_400_000;
const FRAMES = 300;
const ROUNDS = 4;

async function reader(ctx: CheckContext, server: number): Promise<number> {
  const r = await run(`${ctx.toolsDir}/uvc-count`, ['--frames', String(FRAMES), '--transfers', '25', '--packets', '32', '--exclude-pid', String(server)], { timeoutMs: 600_000 });
  assert(r.stdout.includes('RESULT ok'), r.stdout + r.stderr);
  const cpu = Number(/cpu_s=([\d.]+)/.exec(r.stdout)![1]);
  const frames = Number(/frames=(\d+)/.exec(r.stdout)![1]);
  return (cpu / frames) * 1000;
}

async function tree(root: string): Promise<{ ms: number; line: string }> {
  const [dir, wakeOn] = root.split('#') as [string, string | undefined];
  const driver = new URL(wakeOn === undefined ? '../ab-cpu-driver.js' : '../ab-addon-driver.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [driver, dir, String(CAMERA_VID), String(CAMERA_PID), String(FRAMES), ...(wakeOn === undefined ? [] : [wakeOn])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert(code === 0, `${root}: exit ${code}: ${out}${err}`);
  const v = JSON.parse(out.trim().split('\n').at(-1)!) as { processS: number; frames: number };
  return { ms: (v.processS / v.frames) * 1000, line: out.trim() };
}

export default async function check(ctx: CheckContext): Promise<void> {
  const project = process.env.UVC_RIG_PROJECT!;
  const builds = existsSync(`${project}/rig/.ab`) ? readdirSync(`${project}/rig/.ab`).sort() : [];
  if (builds.length === 0) {
    ctx.log('no builds in rig/.ab/ to compare with this tree: nothing to do (see the header of this check)');
    return;
  }
  const trees: [string, string][] = [
    ['this tree', project],
    ...builds.map((name): [string, string] => [name, `${project}/rig/.ab/${name}`]),
    ['this addon alone, woken per frame', `${project}#uvc-frame`],
    ['this addon alone, woken per transfer', `${project}#transfer`],
  ];
  ctx.log(`builds: this tree${builds.map((b) => `, rig/.ab/${b}`).join('')}`);
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options: { pace: 'fast' }, label: 'camera' });
  let port: number | undefined;
  const ratios = new Map<string, number[]>(trees.map(([n]) => [n, []]));
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(CAMERA_VID, CAMERA_PID);
    await waitForDriver(usb.path, 1, 'uvcvideo');
    const server = cameraServerPid();
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? trees : [...trees].reverse();
      const r0 = await reader(ctx, server);
      await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
      const ms = new Map<string, number>();
      for (const [name, root] of order) {
        const t = await tree(root);
        ctx.log(`round ${round} ${name}: ${t.ms.toFixed(2)} ms/frame ${t.line}`);
        ms.set(name, t.ms);
        await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
      }
      const r1 = await reader(ctx, server);
      await waitForDriver(usb.path, 1, 'uvcvideo', 20_000);
      const base = (r0 + r1) / 2;
      ctx.log(`round ${round}: reader ${r0.toFixed(2)} / ${r1.toFixed(2)} ms/frame; ${[...ms].map(([n, m]) => `${n} ${(m / base).toFixed(2)} x`).join(', ')}`);
      for (const [n, m] of ms) ratios.get(n)!.push(m / base);
    }
    const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    ctx.log(`medians over ${ROUNDS} rounds: ${[...ratios].map(([n, a]) => `${n} ${median(a).toFixed(2)} x (${a.map((x) => x.toFixed(2)).join(' · ')})`).join('; ')}`);
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}
