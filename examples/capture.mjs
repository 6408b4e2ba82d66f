#!/usr/bin/env node
// Capture frames with the library: find a camera (or use the virtual one), pick a mode, stream through the buffer
// queue, and save each frame to a file.
//
//   node examples/capture.mjs [frames] [--virtual]        (in a clone, after `npm ci`; or copy it into your project)
import { mkdir, writeFile } from 'node:fs/promises';
import { listCameras, openCamera, VirtualCamera } from 'uvc-capture';

const count = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 30);
const useVirtual = process.argv.includes('--virtual') || (await listCameras()).length === 0;

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

  // The buffer queue works like Linux's videobuf2: allocate, queue, stream on, take filled buffers, queue them again.
  const queue = camera.queue;
  const buffers = queue.reqbufs(4);
  for (let i = 0; i < buffers; i++) queue.qbuf(i);
  await queue.streamon();

  await mkdir('frames', { recursive: true });
  let saved = 0;
  // `for await` dequeues each filled buffer and queues the previous one again. A buffer's `data` is a view of the
  // frame in the buffer's memory (no copy): use it before the next step of the loop.
  for await (const buffer of queue) {
    if (buffer.flags.error) {
      console.log(`frame ${buffer.sequence} arrived damaged (${buffer.bytesused} bytes): skipped`);
      continue;
    }
    await writeFile(`frames/frame-${String(saved + 1).padStart(4, '0')}.${extension}`, buffer.data);
    saved++;
    if (saved === count) break;
  }
  const { frames, erroredFrames, droppedFrames } = camera.stats.assembly ?? {};
  await queue.streamoff();
  console.log(`saved ${saved} frames in frames/ (the stream: ${frames} frames, ${erroredFrames} errored, ${droppedFrames} lost)`);
} finally {
  await camera.close();
}
