#!/usr/bin/env node
// Two cameras at once: plan the bus bandwidth, lower what does not fit, stream both, and pair their frames by time.
//
//   node examples/stereo.mjs                  (two virtual cameras on one virtual high-speed bus)
//   node examples/stereo.mjs 1-1 1-2          (two real cameras, by port path, vid:pid or bus/address)
import { openCamera, pairFrames, planBandwidth, VirtualBus, VirtualCamera } from 'uvc-capture';

const [leftId, rightId] = process.argv.slice(2);
let bus;
let targets;
if (leftId && rightId) {
  targets = [leftId, rightId];
} else {
  bus = new VirtualBus({ speed: 'high' });
  targets = [new VirtualCamera({ serial: 'LEFT' }), new VirtualCamera({ serial: 'RIGHT' })];
  bus.plug(targets[0], { name: 'left' });
  bus.plug(targets[1], { name: 'right' });
}
const cameras = [await openCamera(targets[0]), await openCamera(targets[1])];
const names = ['left', 'right'];

// Both want 640x480 YUYV at 30 fps: on one USB 2 bus that is 61 µs of the 100 µs per microframe each. Plan first.
const wish = { fourcc: 'YUYV', width: 640, height: 480, fps: 30 };
let plan = await planBandwidth(cameras.map((camera, i) => ({ name: names[i], camera, mode: wish })), bus ? { bus } : {});
let modes = cameras.map(() => wish);
if (!plan.fits) {
  console.log(`${names.join(' + ')} at 640x480@30 do not fit one bus (${plan.domains[0].used} of ${plan.domains[0].limit} ${plan.domains[0].unit})`);
  if (plan.lowered === null) throw new Error('no modes of these cameras fit together: use two USB controllers');
  for (const { name, mode } of plan.lowered) {
    console.log(`lowering ${name} to ${mode.fourcc} ${mode.width}x${mode.height} @ ${mode.fps} fps`);
    modes[names.indexOf(name)] = { fourcc: mode.fourcc, width: mode.width, height: mode.height, fps: mode.fps };
  }
}

for (const [i, camera] of cameras.entries()) {
  const mode = await camera.setFormat(modes[i]);
  console.log(`${names[i]}: ${mode.fourcc} ${mode.width}x${mode.height} @ ${mode.fps} fps, alt setting ${mode.altSetting}`);
  const count = camera.queue.reqbufs(6);
  for (let b = 0; b < count; b++) camera.queue.qbuf(b);
}
// Started together, so the cameras capture nearly in phase (unsynchronised cameras keep whatever phase they start with).
await Promise.all(cameras.map((camera) => camera.queue.streamon()));

// Frames paired by timestamp, within half a frame interval; a frame without a partner is given back.
let sets = 0;
const pairing = pairFrames(cameras);
for await (const { frames, offsetsNs } of pairing) {
  const [left, right] = frames;
  console.log(`pair ${++sets}: left #${left.sequence}, right #${right.sequence}, right − left = ${(offsetsNs[1] / 1e6).toFixed(2)} ms`);
  if (sets === 10) break;
}
console.log(`${pairing.stats.sets} pairs, unpaired frames: left ${pairing.stats.unpaired[0]}, right ${pairing.stats.unpaired[1]}`);
for (const camera of cameras) await camera.close();
