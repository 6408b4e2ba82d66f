/**
 * The completionJitterMs fault: replies reach the host late and in bursts, as through USB/IP, while the device
 * loses nothing; the host's idle-time count (missedIntervals) then reports losses that never happened, which is
 * what a driver reading its own clock sees over USB/IP (issue 12).
 */
import { describe, expect, it } from 'vitest';
import { decodeFrameStamp, VirtualCamera } from '../../src/virtual-camera/index.js';
import type { EndpointReply } from '../../src/transport/device-model.js';
import { enumerate, FrameCollector, isoSlots, negotiate, setInterface, VIDEO_EP, VS } from './helpers/raw-usb.js';

const W = 160;
const H = 120;

describe('completionJitterMs', () => {
  it('delivers iso replies late, in order and in bursts; the frames are whole; the host clock reports lost intervals', async () => {
    const camera = new VirtualCamera({ formats: [{ format: 'yuyv', frames: [{ width: W, height: H, fps: [30] }] }], faults: { completionJitterMs: 60 } });
    await enumerate(camera);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    // Ten requests of 32 microframes in flight (40 ms of bus time): a link that flushes every 0..60 ms (30 on
    // average) keeps up with the bus, and at times holds every request the host has.
    const collector = new FrameCollector();
    const replies: EndpointReply[] = [];
    const submit = () => {
      const { buffer, iso } = isoSlots(32, 3072);
      return camera.transfer({ endpoint: VIDEO_EP, buffer, iso }).then((reply) => ({ reply, buffer, iso }));
    };
    const queue = Array.from({ length: 10 }, submit);
    while (collector.frames.length < 30) {
      const { reply, buffer, iso } = await queue.shift()!;
      expect(reply.status).toBe('ok');
      replies.push(reply);
      for (let i = 0; i < iso.count; i++) collector.payload(buffer.subarray(iso.offsets[i]!, iso.offsets[i]! + iso.actual[i]!));
      queue.push(submit());
    }
    await setInterface(camera, VS, 0);
    await Promise.allSettled(queue);

    // In order, back to back on the bus: each request starts where the previous one ended. (A host more than a
    // second behind the bus, which a loaded machine can be, loses data behind a link too: the camera records it.)
    const gaps = replies.filter((r, i) => i > 0 && (r.startFrame - replies[i - 1]!.startFrame + 2048) % 2048 !== 4).length;
    const unheard = camera.sentFrames.filter((f) => f.unheard || f.faults.includes('bus-gap')).length;
    if (unheard === 0) expect(gaps).toBe(0);
    expect(gaps).toBeLessThan(replies.length / 10);
    expect(replies.reduce((n, r) => n + (r.missedIntervals ?? 0), 0)).toBeGreaterThan(0);
    // Every whole frame in order and whole in the camera's record too; damage only where the host was not there.
    const frames = collector.frames.slice(1); // the first may have begun before the first request
    const truth = new Map(camera.sentFrames.map((f) => [f.sequence, f]));
    let previous = -1;
    for (const f of frames) {
      const stamp = decodeFrameStamp({ data: f.data, width: W, height: H, format: 'yuyv' });
      if (f.data.length !== W * H * 2 || stamp === null) continue;
      expect(stamp).toBeGreaterThan(previous);
      expect(truth.get(stamp)?.damaged).toBe(false);
      previous = stamp;
    }
    expect(camera.sentFrames.every((f) => f.faults.every((fault) => fault === 'bus-gap' || fault === 'aborted'))).toBe(true);
    expect(frames.filter((f) => f.data.length === W * H * 2).length).toBeGreaterThan(frames.length / 2);
  });
});
