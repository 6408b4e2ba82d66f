#!/usr/bin/env node
// Reacting to unplug: the camera emits 'disconnect', the queue hands back what it still holds (flagged as errored)
// and then ENXIO, controls answer ENODEV, and close() still works. Frames already taken are yours to keep.
//
//   node examples/unplug.mjs              (the virtual camera, unplugged as frame 45 is about to leave it)
//   node examples/unplug.mjs 1-2.3        (a real camera: pull it out while it streams)
import { isUvcError, openCamera, VirtualCamera } from 'uvc-capture';

const target = process.argv[2] ?? new VirtualCamera({ faults: { unplugAtFrame: 45 } });
const camera = await openCamera(target);
camera.on('disconnect', () => console.log('disconnect: the camera went away'));

const queue = camera.queue;
const count = queue.reqbufs(4);
for (let i = 0; i < count; i++) queue.qbuf(i);
await queue.streamon();

let good = 0;
try {
  for await (const buffer of queue) {
    if (buffer.flags.error) console.log(`frame ${buffer.sequence}: damaged (${camera.disconnected ? 'cut by the unplug' : 'transfer error'})`);
    else good++;
  }
  console.log('the stream ended');
} catch (error) {
  if (!isUvcError(error, 'ENXIO')) throw error;
  console.log(`ENXIO after ${good} good frames: nothing more will come`);
}
await camera.getControl('brightness').catch((error) => console.log(`controls now answer ${error.code}`));
await camera.close();
console.log('closed cleanly');
