/**
 * Unplug (virtual camera only: a real one would have to be pulled by hand): while streaming with a dqbuf waiting,
 * the camera leaves the bus. The waiter must wake at once (with a frame that completed before the unplug, a buffer
 * handed back flagged, or ENXIO), the queue answer ENXIO once the buffers in it are back, controls ENODEV, close()
 * work; and the camera, plugged back, must open and stream again.
 */
import { isUvcError } from '../../errors.js';
import { openCamera, type Camera } from '../../camera/index.js';
import type { VirtualCamera } from '../../virtual-camera/index.js';
import { errorText, within, type CheckReport } from './check-results.js';

const codeOf = (error: unknown): string => (isUvcError(error) ? error.code : errorText(error));

export async function checkUnplug(camera: Camera, virtual: VirtualCamera, report: CheckReport): Promise<void> {
  const queue = camera.queue;
  try {
    const count = queue.reqbufs(4);
    for (let i = 0; i < count; i++) queue.qbuf(i);
    await within(5000, 'streamon', queue.streamon());
    const held = await queue.dqbuf({ timeoutMs: 3000 });
    let disconnects = 0;
    camera.on('disconnect', () => disconnects++);
    const waiting = queue.dqbuf().then(
      (buffer) => (buffer.flags.error ? 'a buffer handed back flagged' : 'a frame completed before the unplug'),
      codeOf,
    );
    virtual.unplug();
    const woke = await within(1000, 'the waiting dqbuf', waiting).catch(errorText);
    // The last whole frame the camera sent before it left (kept, as uvcvideo keeps it), a buffer handed back in
    // error, or ENXIO: anything but a wait.
    const wokeWell = woke === 'a buffer handed back flagged' || woke === 'a frame completed before the unplug' || woke === 'ENXIO';
    report.add('unplug', 'waiters wake', wokeWell ? 'pass' : 'fail', `a dqbuf waiting at the unplug returned ${woke}`);
    report.add('unplug', 'disconnect event', disconnects === 1 && camera.disconnected ? 'pass' : 'fail', `'disconnect' emitted ${disconnects} time(s); camera.disconnected = ${camera.disconnected}`);

    // Frames completed before the unplug and the buffers still in the queue (flagged) come back, then ENXIO, at
    // once: never a wait.
    const returned: string[] = [];
    let final = '';
    for (let i = 0; i < count + 1; i++) {
      try {
        const buffer = await within(1000, 'dqbuf after unplug', queue.dqbuf());
        returned.push(buffer.flags.error ? 'errored' : 'good');
      } catch (error) {
        final = codeOf(error);
        break;
      }
    }
    const qbuf = (() => {
      try {
        queue.qbuf(held.index);
        return 'queued';
      } catch (error) {
        return codeOf(error);
      }
    })();
    const streamon = await queue.streamon().then(() => 'started', codeOf);
    const control = await camera.getControl(camera.controls[0]?.name ?? 'brightness').then(() => 'a value', codeOf);
    const ok = final === 'ENXIO' && qbuf === 'ENXIO' && streamon === 'ENXIO' && control === 'ENODEV';
    report.add(
      'unplug',
      'ENXIO after unplug',
      ok ? 'pass' : 'fail',
      `dqbuf: ${returned.length} buffer(s) back (${returned.join(', ') || 'none'}), then ${final || 'no error'}; qbuf → ${qbuf}; streamon → ${streamon}; controls → ${control}`,
    );
    await within(5000, 'streamoff', queue.streamoff());
    await within(5000, 'close', camera.close());
    report.add('unplug', 'close after unplug', 'pass', 'streamoff and close() return');
  } catch (error) {
    report.add('unplug', 'unplug', 'fail', errorText(error));
    await camera.close().catch(() => undefined);
  }

  let again: Camera | null = null;
  try {
    virtual.replug();
    again = await within(5000, 'open after replug', openCamera(virtual));
    const q = again.queue;
    q.reqbufs(2);
    q.qbuf(0);
    q.qbuf(1);
    await within(5000, 'streamon', q.streamon());
    const frame = await q.dqbuf({ timeoutMs: 3000 });
    report.add('unplug', 'replug', 'pass', `opens and streams again (a ${frame.bytesused}-byte frame)`);
  } catch (error) {
    report.add('unplug', 'replug', 'fail', errorText(error));
  } finally {
    await again?.close().catch(() => undefined);
  }
}
