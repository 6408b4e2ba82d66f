#!/usr/bin/env node
// Capture frames with the library: find a camera (or use the virtual one), pick a mode, stream through the buffer
// queue, and save each frame to a file.
//
//   node examples/capture.mjs [frames] [--virtual] [--out DIR]   (in a clone, after `npm ci`; or copy it into your
//                                                                 project). Frames go to example-capture/ by default.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listCameras, openCamera, VirtualCamera } from 'uvc-capture';

const args = process.argv.slice(2);
const count = Number(args.find((a) => /^\d+$/.test(a)) ?? 30);
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : 'example-capture';
const useVirtual = args.includes('--virtual') || (await listCameras()).length === 0;

// openCamera() takes a port path ('1-2.3'), 'vid:pid', 'bus/address', an entry of listCameras(), or a device model
// such as the built-in virtual camera. Without an argument: the first camera attached.
const camera = await openCamera(useVirtual ? new VirtualCamera() : undefined);
console.log(`${camera.info.product ?? 'camera'} (${camera.info.transport}), UVC ${camera.info.uvcVersion}`);
for (const format of camera.formats) {
  console.log(`  ${format.fourcc}: ${format.frames.map((f) => `${f.width}x${f.height}`).join(', ')}`);
}

try {
  // The nearest mode the camera has to what is asked (ENOENT if it has no such format at all).
  const mode = await camera.setFormat({ fourcc: 'MJPEG', width: 640, height: 480, fps: 30 }).catch(() => camera.setFormat({}));
  console.log(`streaming ${mode.fourcc} ${mode.width}x${mode.height} @ ${mode.fps} fps`);
  const extension = mode.kind === 'mjpeg' ? 'jpg' : 'raw';

  // Everything slow (making the directory) before streaming: a camera does not wait.
  await mkdir(out, { recursive: true });

  // The buffer queue works like Linux's videobuf2: allocate, queue, stream on, take filled buffers, queue them again.
  const queue = camera.queue;
  const buffers = queue.reqbufs(4);
  for (let i = 0; i < buffers; i++) queue.qbuf(i);
  await queue.streamon();

  let saved = 0;
  let damaged = 0;
  let first = -1;
  let last = -1;
  // `for await` dequeues each filled buffer and queues the previous one again. A buffer's `data` is a view of the
  // frame in the buffer's memory (no copy): use it before the next step of the loop.
  for await (const buffer of queue) {
    if (first < 0) first = buffer.sequence;
    last = buffer.sequence;
    if (buffer.flags.error) {
      damaged++;
      console.log(`frame ${buffer.sequence} arrived damaged (${buffer.bytesused} bytes): skipped`);
      continue;
    }
    await writeFile(path.join(out, `frame-${String(saved + 1).padStart(4, '0')}.${extension}`), buffer.data);
    saved++;
    if (saved === count) break;
  }
  await queue.streamoff();
  // Frames lost on the way are gaps in the sequence numbers between the first frame taken and the last.
  const lost = last - first + 1 - saved - damaged;
  console.log(`saved ${saved} frames in ${out}/ (sequences ${first}…${last}: ${damaged} damaged, ${lost} lost)`);
} finally {
  await camera.close();
}
